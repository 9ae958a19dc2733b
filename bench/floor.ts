/**
 * The floor: the smallest raw Deno server that plays well enough to be
 * benchmarked. Per connection it reads into one reused buffer, scans the bytes
 * for `\n`, and makes one write per read with every reply of that read. It
 * guesses lower, lower + 1, ... in the range of the last `PARAMS`, so games
 * end like the real server's (after (R + 1) / 2 guesses on average). No
 * validation, no limits, no errors: it is the upper bound of what a Deno TCP
 * server can do here, not a server to run.
 *
 *     deno run --allow-net bench/floor.ts [PORT]
 *
 * It prints `Listening on 127.0.0.1:PORT` on stderr once it listens.
 *
 * @module
 */

const LF = 0x0a;
const SPACE = 0x20;
const MINUS = 0x2d;
const ZERO = 0x30;
const N = 0x4e; // NUMBER
const P = 0x50; // PARAMS; REPORT lines are skipped.

async function handle(conn: Deno.Conn): Promise<void> {
  const input = new Uint8Array(16 * 1024);
  let output = new Uint8Array(1024);
  // The line being scanned: its first byte, which field, the two numbers.
  let first = -1, field = 0, a = 0, b = 0, negA = false, negB = false;
  let lower = 0, upper = 0, next = 0;
  try {
    for (;;) {
      const n = await conn.read(input);
      if (n === null) break;
      let length = 0;
      for (let i = 0; i < n; i++) {
        const byte = input[i];
        if (byte === LF) {
          if (first === N) {
            if (output.length < length + 24) {
              const grown = new Uint8Array(output.length * 2);
              grown.set(output.subarray(0, length));
              output = grown;
            }
            length = writeInteger(output, length, next);
            next = next >= upper ? lower : next + 1;
          } else if (first === P) {
            lower = negA ? -a : a;
            upper = negB ? -b : b;
            next = lower;
          }
          first = -1, field = 0, a = 0, b = 0, negA = false, negB = false;
        } else if (first === -1) {
          first = byte;
        } else if (first === P) {
          if (byte === SPACE) field++;
          else if (byte === MINUS) field === 1 ? (negA = true) : (negB = true);
          else if (field === 1) a = a * 10 + byte - ZERO;
          else if (field === 2) b = b * 10 + byte - ZERO;
        }
      }
      let offset = 0;
      while (offset < length) offset += await conn.write(output.subarray(offset, length));
    }
  } catch {
    // The peer reset the connection: nothing to do.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Writes `value` in decimal and `\n` at `at`; returns the new end. */
function writeInteger(output: Uint8Array, at: number, value: number): number {
  if (value < 0) {
    output[at++] = MINUS;
    value = -value;
  }
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    output[i] = ZERO + (value % 10);
    value = Math.floor(value / 10);
  }
  output[at + digits] = LF;
  return at + digits + 1;
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? "4322");
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const line = `Listening on 127.0.0.1:${listener.addr.port}\n`;
  Deno.stderr.writeSync(new TextEncoder().encode(line));
  for await (const conn of listener) handle(conn);
}
