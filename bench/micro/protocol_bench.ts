/**
 * Microbenchmarks of the protocol core: `deno bench bench/micro/`. The game step
 * is what the server does per round trip of a game: one `REPORT` and one
 * `NUMBER` in one chunk, one reply out.
 *
 * @module
 */

import { judge, parseCommand, ServerConnection, tryParseCommand } from "../../protocol.ts";
import { Rng } from "../../strategy.ts";

Deno.bench("parseCommand: NUMBER", { group: "parse", baseline: true }, () => {
  parseCommand("NUMBER");
});

Deno.bench("parseCommand: REPORT Unsure", { group: "parse" }, () => {
  parseCommand("REPORT Unsure");
});

Deno.bench("parseCommand: PARAMS 1 100", { group: "parse" }, () => {
  parseCommand("PARAMS 1 100");
});

Deno.bench("parseCommand: a bad line (throws)", { group: "parse" }, () => {
  try {
    parseCommand("HELLO");
  } catch {
    // Expected.
  }
});

Deno.bench("tryParseCommand: a bad line (a value)", { group: "parse" }, () => {
  tryParseCommand("HELLO");
});

const encoder = new TextEncoder();
const start = encoder.encode("PARAMS 1 9007199254740991\nNUMBER\n");
const step = encoder.encode("REPORT Unsure\nNUMBER\n");
// A range this wide never runs out of guesses, however many steps the bench takes.
const connection = new ServerConnection({ rng: new Rng(1) });
connection.receive(start);

Deno.bench("ServerConnection: one game step (REPORT + NUMBER in, a guess out)", {
  group: "step",
  baseline: true,
}, () => {
  connection.receive(step);
});

const pipelined = encoder.encode("NUMBER\n".repeat(16));
Deno.bench("ServerConnection: 16 pipelined NUMBERs", { group: "step" }, () => {
  connection.receive(pipelined);
});

const params = encoder.encode("PARAMS 0 -1\nPARAMS 1 100\nNUMBER\n");
Deno.bench("ServerConnection: a new game (PARAMS 0 -1, PARAMS, NUMBER)", { group: "step" }, () => {
  connection.receive(params);
});

// A fresh connection now and then: 1000 bad lines in a row close one.
let flooded = new ServerConnection({ rng: new Rng(1) });
const empties = encoder.encode("\n".repeat(16));
Deno.bench("ServerConnection: 16 empty lines (16 ERRORs)", { group: "step" }, () => {
  if (flooded.closed) flooded = new ServerConnection({ rng: new Rng(1) });
  flooded.receive(empties);
});

// What the server does: feedBytes(), the replies as bytes in the connection's own buffer.
const shell = new ServerConnection({ rng: new Rng(1) });
shell.receive(start);
const stepGames = encoder.encode("REPORT Unsure\nNUMBER\n");
Deno.bench("ServerConnection.feedBytes: one game step", { group: "bytes", baseline: true }, () => {
  shell.feedBytes(stepGames);
});

Deno.bench("ServerConnection.feedBytes: 16 pipelined NUMBERs", { group: "bytes" }, () => {
  shell.feedBytes(pipelined);
});

// A game of the C client: REPORT Correct, PARAMS 0 -1, PARAMS 1 100, NUMBER.
const again = encoder.encode("REPORT Correct\nPARAMS 0 -1\nPARAMS 1 100\nNUMBER\n");
Deno.bench("ServerConnection.feedBytes: the end of a game and the next", {
  group: "bytes",
}, () => {
  shell.feedBytes(again);
});

let previous: bigint | undefined;
Deno.bench("judge: the client's verdict on one guess", () => {
  previous = judge(50, 37, previous).distance;
});
