/**
 * Small helpers of the I/O side, one copy each, shared by the server, the
 * client, the CLI, the load generator and the tests: write all of a buffer,
 * close without caring whether it is closed, and the one source of a random
 * seed (the sans-I/O core takes its seed or `Rng` from the caller).
 *
 * @module
 */

/**
 * Writes all of `bytes`: a socket write may take only part of them.
 *
 * @param conn Anything with a `write` like `Deno.Conn`'s.
 * @param bytes The bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./net.ts";
 * const taken: number[] = [];
 * // A sink that takes at most 2 bytes per write.
 * const sink = {
 *   write: (b: Uint8Array) => Promise.resolve(taken.push(...b.subarray(0, 2)) && Math.min(2, b.length)),
 * };
 * await writeAll(sink, new Uint8Array([1, 2, 3, 4, 5]));
 * assert.deepEqual(taken, [1, 2, 3, 4, 5]);
 * ```
 */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * Closes a connection that may already be closed (by the peer, the runtime or a timer).
 *
 * @param conn Anything with a `close` like `Deno.Conn`'s.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./net.ts";
 * const conn = { close: () => { throw new Error("Bad resource ID"); } };
 * closeQuietly(conn); // does not throw
 * ```
 */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * A fresh random seed from the platform's entropy, for when the user gives
 * none. The one place outside tests that reads entropy.
 *
 * @returns An unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomSeed } from "./net.ts";
 * const seed = randomSeed();
 * assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32);
 * ```
 */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Writes all of `bytes` to a synchronous stream such as `Deno.stderr`: a pipe
 * may take a long line in pieces.
 *
 * @param stream Anything with a `writeSync` like `Deno.stdout`'s.
 * @param bytes The bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAllSync } from "./net.ts";
 * const taken: number[] = [];
 * const sink = { writeSync: (b: Uint8Array) => taken.push(b[0]) && 1 };
 * writeAllSync(sink, new Uint8Array([7, 8, 9]));
 * assert.deepEqual(taken, [7, 8, 9]);
 * ```
 */
export function writeAllSync(
  stream: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}
