/**
 * guess: a Deno port of the TCP number-guessing game of Effective Python
 * (Item 61). The server guesses a secret only the client knows; the client
 * says how each guess compares. See `README.md` and `PROTOCOL.md`.
 *
 * @example Play one game against a server on port 4321
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * await using client = await connect({ port: 4321 });
 * await using game = await client.session(1, 5, 3);
 * for await (const n of game.requestNumbers(5)) await game.reportOutcome(n);
 * ```
 *
 * @module
 */

export * from "./protocol.ts";
export * from "./framing.ts";
export * from "./strategy.ts";
export * from "./strategies.ts";
export * from "./random.ts";
export * from "./bisect.ts";
export * from "./server.ts";
export * from "./client.ts";
export * from "./log.ts";
export * from "./http.ts";
export * from "./metrics.ts";
