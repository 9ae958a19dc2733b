/**
 * Strategy quality: how many guesses `bisect` and `random` need over N values,
 * counting the final `Correct`, played directly against the client's judge
 * (no sockets, no permissions). Prints the markdown table of BENCHMARKS.md.
 *
 *     deno run bench/strategies.ts
 *
 * `bisect` is deterministic: up to 10^6 every secret is played (a walk of its
 * game tree, each secret judged on its own), beyond that 20000 secrets: those
 * within 40 of the ends and of N/4, N/3, N/2 and 3N/4 (where rounding
 * accumulates), and random ones. `random` is measured over random
 * secrets and random seeds; its worst case is N by design (every value once,
 * in random order), and its mean is (N + 1) / 2, so it is only sampled where
 * a game is short enough to play.
 *
 * @module
 */

import { BisectStrategy } from "../bisect.ts";
import { type Decision, judge } from "../protocol.ts";
import { RandomStrategy } from "../random.ts";
import { Rng, type Strategy } from "../strategy.ts";

const SIZES: [string, bigint][] = [
  ["5", 5n],
  ["10", 10n],
  ["100", 100n],
  ["1000", 1000n],
  ["10^4", 10n ** 4n],
  ["10^6", 10n ** 6n],
  ["2^31", 2n ** 31n],
  ["2^53", 2n ** 53n],
  ["2^54 - 1 (all safe integers)", 2n ** 54n - 1n],
];
const EXHAUSTIVE_UP_TO = 10n ** 6n;
const SAMPLED_SECRETS = 20_000;
const RANDOM_GAMES_UP_TO = 10n ** 4n;
const rng = new Rng(20261125);

/** The range of N values: [0, N - 1], or [MIN_SAFE_INTEGER, MAX_SAFE_INTEGER] for 2^54 - 1. */
function lowerOf(size: bigint): bigint {
  return size === 2n ** 54n - 1n ? BigInt(Number.MIN_SAFE_INTEGER) : 0n;
}

/** One game of `strategy` against the judge: how many guesses it took. */
function play(strategy: Strategy, secret: number): number {
  let previous: bigint | undefined;
  for (let guesses = 1;; guesses++) {
    const guess = strategy.next();
    const { decision, distance } = judge(secret, guess, previous);
    previous = distance;
    strategy.report(guess, decision);
    if (decision === "Correct") return guesses;
  }
}

const BRANCHES: Decision[] = ["Warmer", "Colder", "Unsure"];

/** Every secret of [0, size - 1] with bisect, by walking its game tree. */
function bisectAll(size: number): { worst: number; mean: number } {
  let worst = 0, total = 0;
  const walk = (
    strategy: BisectStrategy,
    secrets: number[],
    distances: (bigint | undefined)[],
    depth: number,
  ): void => {
    const guess = strategy.next();
    const groups = BRANCHES.map(() => ({ secrets: [] as number[], distances: [] as bigint[] }));
    secrets.forEach((secret, i) => {
      const { decision, distance } = judge(secret, guess, distances[i]);
      if (decision === "Correct") {
        worst = Math.max(worst, depth);
        total += depth;
        return;
      }
      const group = groups[BRANCHES.indexOf(decision)];
      group.secrets.push(secret);
      group.distances.push(distance);
    });
    groups.forEach((group, k) => {
      if (group.secrets.length === 0) return;
      const child = strategy.clone();
      child.report(guess, BRANCHES[k]);
      walk(child, group.secrets, group.distances, depth + 1);
    });
  };
  const secrets = Array.from({ length: size }, (_, i) => i);
  walk(new BisectStrategy(0, size - 1), secrets, secrets.map(() => undefined), 1);
  return { worst, mean: total / size };
}

/** A random offset in [0, size). */
function randomOffset(size: bigint): bigint {
  const bits = (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32());
  return bits % size; // bias below 2^-10 for these sizes
}

/** Bisect over the ends, the quarter points and random secrets of the range. */
function bisectSampled(size: bigint): { worst: number; mean: number } {
  const lower = lowerOf(size), upper = lower + size - 1n;
  const offsets = new Set<bigint>();
  for (const point of [0n, size / 4n, size / 3n, size / 2n, (3n * size) / 4n, size - 1n]) {
    for (let d = -40n; d <= 40n; d++) {
      if (point + d >= 0n && point + d < size) offsets.add(point + d);
    }
  }
  while (offsets.size < SAMPLED_SECRETS) offsets.add(randomOffset(size));
  let worst = 0, total = 0;
  for (const offset of offsets) {
    const strategy = new BisectStrategy(Number(lower), Number(upper));
    const guesses = play(strategy, Number(lower + offset));
    worst = Math.max(worst, guesses);
    total += guesses;
  }
  return { worst, mean: total / offsets.size };
}

/** Random over random secrets with fresh seeds: the mean, and the worst seen. */
function randomSampled(size: bigint): { worst: number; mean: number; games: number } {
  const games = Number(size <= 1000n ? 2000n : 200n);
  let worst = 0, total = 0;
  for (let i = 0; i < games; i++) {
    const strategy = new RandomStrategy(0, Number(size) - 1, rng.fork());
    const guesses = play(strategy, Number(randomOffset(size)));
    worst = Math.max(worst, guesses);
    total += guesses;
  }
  return { worst, mean: total / games, games };
}

function ceilLog2(size: bigint): number {
  return size === 1n ? 0 : (size - 1n).toString(2).length;
}

const rows: string[] = [
  "| N | ceil(log2 N) + 2 | bisect worst | bisect mean | log2 N | bisect secrets | random worst | random mean |",
  "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
];
for (const [label, size] of SIZES) {
  const started = performance.now();
  const exhaustive = size <= EXHAUSTIVE_UP_TO;
  const bisect = exhaustive ? bisectAll(Number(size)) : bisectSampled(size);
  const how = exhaustive ? "all" : `${SAMPLED_SECRETS} sampled`;
  let randomWorst = `${size} (design)`;
  let randomMean = `${(size + 1n) / 2n}${size % 2n === 0n ? ".5" : ""} (expected)`;
  if (size <= RANDOM_GAMES_UP_TO) {
    const random = randomSampled(size);
    randomWorst = `${random.worst} of ${random.games} games (${size} by design)`;
    randomMean = random.mean.toFixed(2);
  }
  const log2 = Math.log2(Number(size)).toFixed(2);
  rows.push(
    `| ${label} | ${ceilLog2(size) + 2} | ${bisect.worst} | ${
      bisect.mean.toFixed(2)
    } | ${log2} | ${how} | ${randomWorst} | ${randomMean} |`,
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  write(Deno.stderr, `N = ${label}: ${seconds} s\n`);
}
write(Deno.stdout, rows.join("\n") + "\n");

function write(stream: typeof Deno.stdout, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0; offset < bytes.length;) offset += stream.writeSync(bytes.subarray(offset));
}
