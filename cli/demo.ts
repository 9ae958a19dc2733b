/**
 * Playing games from the CLI: the seed's demo, against an in-process server
 * over in-memory streams (no permissions needed) or a remote one over TCP.
 *
 * @module
 */

import { Client, connect } from "../client.ts";
import type { Decision, GameEvent } from "../protocol.ts";
import { serveStreams, type SessionServeOptions } from "../server.ts";

/**
 * One game to play: the range and the client's secret.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEMO_GAMES, type GameSpec } from "./demo.ts";
 * const spec: GameSpec = { lower: 1, upper: 5, secret: 3 };
 * assert.deepEqual(DEMO_GAMES[0], spec);
 * ```
 */
export interface GameSpec {
  /** The smallest possible secret. */
  readonly lower: number;
  /** The largest possible secret. */
  readonly upper: number;
  /** The secret. */
  readonly secret: number;
}

/**
 * The seed's demo games: 1..5 with secret 3, then 10..15 with secret 12.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEMO_GAMES } from "./demo.ts";
 * assert.equal(DEMO_GAMES.length, 2);
 * ```
 */
export const DEMO_GAMES: readonly GameSpec[] = Object.freeze([
  { lower: 1, upper: 5, secret: 3 },
  { lower: 10, upper: 15, secret: 12 },
]);

/**
 * A connection to play on, and how to wait for its server (in-process only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openInProcess } from "./demo.ts";
 * await using table = openInProcess({ seed: 1 });
 * assert.ok(!table.client.closed);
 * ```
 */
export interface Table extends AsyncDisposable {
  /** The client side. */
  readonly client: Client;
  /**
   * Resolves once the server has handled everything sent so far up to the end
   * of the current game; immediate for a remote server, whose events we
   * cannot see.
   */
  gameEnded(): Promise<void>;
}

/**
 * Starts a server in this process, joined to a client by in-memory streams.
 * Needs no permissions.
 *
 * @param options The server's strategy, seed and event hook.
 * @returns The table; dispose it to close both sides.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openInProcess } from "./demo.ts";
 * await using table = openInProcess({ seed: 1 });
 * await using game = await table.client.session(1, 1, 1);
 * assert.equal(await game.requestNumber(), 1);
 * ```
 */
export function openInProcess(options: SessionServeOptions = {}): Table {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const waiters: (() => void)[] = [];
  const serving = serveStreams(up.readable, down.writable, {
    ...options,
    onEvent(event: GameEvent) {
      options.onEvent?.(event);
      if (event.type === "end") waiters.shift()?.();
    },
  });
  const client = new Client(down.readable, up.writable);
  return {
    client,
    gameEnded() {
      // The end event, or the server stopping: whichever comes first.
      return Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), serving]);
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await serving;
    },
  };
}

/**
 * Connects to a remote server.
 *
 * @param hostname The server's host.
 * @param port The server's port.
 * @param timeout Milliseconds to wait for the connection and for each reply.
 * @default {10000} timeout
 * @returns The table; dispose it to close the connection.
 * @throws {ConnectError} When the connection cannot be made (client.ts).
 *
 * @example
 * ```ts ignore
 * import { openRemote } from "./demo.ts";
 * await using table = await openRemote("127.0.0.1", 4321);
 * ```
 */
export async function openRemote(
  hostname: string,
  port: number,
  timeout?: number,
): Promise<Table> {
  const client = await connect({ hostname, port, timeout });
  return {
    client,
    gameEnded: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => client.close(),
  };
}

/**
 * Plays games the way the seed's `run_async_client` does: a header line per
 * game, up to `count` guesses each, stopping at `Correct`, and one
 * `Client: N is Decision` line per guess after all games.
 *
 * @param table Where to play.
 * @param games The games.
 * @param count The most guesses per game.
 * @param print Where output lines go.
 * @returns Every guess with its decision.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEMO_GAMES, openInProcess, playDemo } from "./demo.ts";
 * await using table = openInProcess({ seed: 1 });
 * const results = await playDemo(table, DEMO_GAMES, 5, () => {});
 * assert.ok(results.length > 0);
 * ```
 */
export async function playDemo(
  table: Table,
  games: readonly GameSpec[],
  count: number,
  print: (line: string) => void,
): Promise<[number, Decision][]> {
  const results: [number, Decision][] = [];
  for (const { lower, upper, secret } of games) {
    print(`\nGuess a number between ${lower} and ${upper}! Shhhhh, it's ${secret}.`);
    const ended = table.gameEnded();
    {
      await using game = await table.client.session(lower, upper, secret);
      for await (const n of game.requestNumbers(count)) {
        results.push([n, await game.reportOutcome(n)]);
      }
    }
    await ended;
  }
  for (const [n, decision] of results) print(`Client: ${n} is ${decision}`);
  return results;
}
