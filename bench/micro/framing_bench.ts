/**
 * Microbenchmarks of line framing: `deno bench bench/micro/`.
 *
 * @module
 */

import { decodeLine, LineSplitter } from "../../framing.ts";

const encoder = new TextEncoder();
const one = encoder.encode("NUMBER\n");
const game = encoder.encode("REPORT Unsure\nNUMBER\n");
const pipelined = encoder.encode("NUMBER\n".repeat(16));
const head = encoder.encode("REPORT Uns");
const tail = encoder.encode("ure\nNUMBER\n");
const line = encoder.encode("REPORT Unsure");
let lines = 0;
const count = (_line: Uint8Array) => void lines++;

Deno.bench("LineSplitter: one NUMBER line", { group: "splitter", baseline: true }, () => {
  new LineSplitter().push(one, count);
});

Deno.bench("LineSplitter: a game step (REPORT + NUMBER)", { group: "splitter" }, () => {
  new LineSplitter().push(game, count);
});

Deno.bench("LineSplitter: 16 pipelined NUMBERs", { group: "splitter" }, () => {
  new LineSplitter().push(pipelined, count);
});

Deno.bench("LineSplitter: a game step split in two reads", { group: "splitter" }, () => {
  const splitter = new LineSplitter();
  splitter.push(head, count);
  splitter.push(tail, count);
});

const reused = new LineSplitter();
Deno.bench("LineSplitter: a game step, splitter reused", { group: "splitter" }, () => {
  reused.push(game, count);
});

Deno.bench("decodeLine: REPORT Unsure", () => {
  decodeLine(line);
});
