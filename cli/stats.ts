/**
 * `play --games K`: plays K games with random secrets and sums up how many
 * guesses they took: mean, median, worst, a small text histogram, and the
 * same as one JSON line. No `Deno.*` here.
 *
 * @module
 */

import type { Table } from "./demo.ts";
import { Rng } from "../strategy.ts";

/**
 * A uniform random integer in [lower, upper], exact for any safe bounds
 * (64 random bits, rejection sampling: no modulo bias).
 *
 * @param rng The random source.
 * @param lower The smallest value, a safe integer.
 * @param upper The largest value, a safe integer, at least `lower`.
 * @returns The value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomInteger } from "./stats.ts";
 * import { Rng } from "../strategy.ts";
 * const value = randomInteger(new Rng(1), -5, 5);
 * assert.ok(value >= -5 && value <= 5);
 * ```
 */
export function randomInteger(rng: Rng, lower: number, upper: number): number {
  const span = BigInt(upper) - BigInt(lower) + 1n;
  const limit = 2n ** 64n - (2n ** 64n % span); // a multiple of span
  for (;;) {
    const bits = (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32());
    if (bits < limit) return Number(BigInt(lower) + bits % span);
  }
}

/**
 * Options of {@linkcode playGames}.
 *
 * @example
 * ```ts
 * import type { GamesOptions } from "./stats.ts";
 * const options: GamesOptions = { lower: 1, upper: 100, games: 10, count: 1000, seed: 1 };
 * ```
 */
export interface GamesOptions {
  /** The smallest possible secret. */
  readonly lower: number;
  /** The largest possible secret. */
  readonly upper: number;
  /** How many games. */
  readonly games: number;
  /** The most guesses per game; a game that needs more counts as unsolved. */
  readonly count: number;
  /**
   * The secrets' seed. They come from `new Rng(seed).fork()`, so they differ
   * from the draws of an in-process server given the same seed.
   */
  readonly seed: number;
  /** Aborting it stops after the game in progress; the tally has the games played so far. */
  readonly signal?: AbortSignal;
  /** Called after each game with the number of games played so far. */
  readonly onProgress?: (played: number) => void;
}

/**
 * The guesses of each game, and how many games were not solved within the
 * limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize, type Tally } from "./stats.ts";
 * const tally: Tally = { guesses: [1, 4, 3], unsolved: 0 };
 * assert.equal(summarize(tally).worst, 4);
 * ```
 */
export interface Tally {
  /** How many guesses each solved game took, counting the final `Correct`. */
  readonly guesses: number[];
  /** How many games hit the guess limit without a `Correct`. */
  readonly unsolved: number;
}

/** With a signal, {@linkcode playGames} gives the event loop a turn after this many games. */
const YIELD_EVERY = 100;

/**
 * Plays `games` games on `table`, each with a random secret, judging the
 * guesses as the seed's client does, one game after the other, until all
 * are played or `signal` aborts.
 *
 * @param table Where to play.
 * @param options The range, the number of games, the guess limit, the seed.
 * @returns The guesses of each game.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openInProcess } from "./demo.ts";
 * import { playGames } from "./stats.ts";
 * await using table = openInProcess({ strategy: "bisect" });
 * const tally = await playGames(table, { lower: 1, upper: 100, games: 3, count: 100, seed: 1 });
 * assert.equal(tally.guesses.length, 3);
 * ```
 */
export async function playGames(table: Table, options: GamesOptions): Promise<Tally> {
  const { lower, upper, games, count } = options;
  const rng = new Rng(options.seed).fork();
  const guesses: number[] = [];
  let unsolved = 0;
  for (let i = 0; i < games; i++) {
    if (options.signal?.aborted) break;
    const secret = randomInteger(rng, lower, upper);
    await using game = await table.client.session(lower, upper, secret);
    let taken = 0;
    for await (const n of game.requestNumbers(count)) {
      await game.reportOutcome(n);
      taken++;
    }
    if (game.solved) guesses.push(taken);
    else unsolved++;
    options.onProgress?.(i + 1);
    // An in-process game is all promise callbacks: let the event loop turn now and then, so a
    // signal (Ctrl-C) can be seen.
    if (options.signal && i % YIELD_EVERY === YIELD_EVERY - 1) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  return { guesses, unsolved };
}

/**
 * Statistics of a {@linkcode Tally}: over the solved games, `null` when none was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./stats.ts";
 * const summary = summarize({ guesses: [1, 4, 3], unsolved: 0 });
 * assert.equal(summary.median, 3);
 * assert.equal(summary.worst, 4);
 * ```
 */
export interface Summary {
  /** How many games were played. */
  readonly games: number;
  /** How many of them hit the guess limit. */
  readonly unsolved: number;
  /** The mean number of guesses. */
  readonly mean: number | null;
  /** The median number of guesses (the mean of the middle two for an even count). */
  readonly median: number | null;
  /** The fewest guesses. */
  readonly best: number | null;
  /** The most guesses. */
  readonly worst: number | null;
  /** How many games took each number of guesses, by increasing guesses. */
  readonly histogram: readonly { readonly guesses: number; readonly games: number }[];
}

/**
 * Sums up a tally.
 *
 * @param tally The guesses of each game.
 * @returns The statistics.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./stats.ts";
 * const summary = summarize({ guesses: [2, 2, 5], unsolved: 1 });
 * assert.equal(summary.games, 4);
 * assert.equal(summary.mean, 3);
 * ```
 */
export function summarize(tally: Tally): Summary {
  const sorted = tally.guesses.toSorted((a, b) => a - b);
  const games = sorted.length + tally.unsolved;
  if (sorted.length === 0) {
    return {
      games,
      unsolved: tally.unsolved,
      mean: null,
      median: null,
      best: null,
      worst: null,
      histogram: [],
    };
  }
  const middle = sorted.length >> 1;
  const histogram: { guesses: number; games: number }[] = [];
  for (const guesses of sorted) {
    const last = histogram.at(-1);
    if (last?.guesses === guesses) last.games++;
    else histogram.push({ guesses, games: 1 });
  }
  return {
    games,
    unsolved: tally.unsolved,
    mean: sorted.reduce((sum, n) => sum + n, 0) / sorted.length,
    median: sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2,
    best: sorted[0],
    worst: sorted[sorted.length - 1],
    histogram,
  };
}

/** At most this many histogram rows; wider spreads are put in equal bins. */
const HISTOGRAM_ROWS = 20;
/** The longest bar, in `#`. */
const BAR_WIDTH = 40;

/**
 * The text form: a heading, one line with mean, median, worst and best, the
 * unsolved games if any, then a histogram of at most 20 rows (guesses, games,
 * a bar of `#` scaled to the largest row).
 *
 * @param summary The statistics.
 * @param heading The first line, e.g. `1000 games of bisect over [1, 100], seed 7`.
 * @param count The guess limit per game, named in the unsolved line.
 * @returns The lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSummary, summarize } from "./stats.ts";
 * const lines = formatSummary(summarize({ guesses: [1, 2, 2], unsolved: 0 }), "3 games", 10);
 * assert.equal(lines[1], "mean 1.67, median 2, worst 2, best 1");
 * ```
 */
export function formatSummary(summary: Summary, heading: string, count: number): string[] {
  const lines = [heading];
  const { mean, median, worst, best } = summary;
  if (mean === null || median === null || worst === null || best === null) {
    lines.push("no game solved");
  } else {
    lines.push(`mean ${round(mean)}, median ${median}, worst ${worst}, best ${best}`);
  }
  if (summary.unsolved > 0) {
    lines.push(`unsolved ${summary.unsolved} (no Correct within ${count} guesses)`);
  }
  if (worst === null || best === null) return lines;
  const width = Math.ceil((worst - best + 1) / HISTOGRAM_ROWS);
  const rows: { label: string; games: number }[] = [];
  for (let from = best; from <= worst; from += width) {
    const to = Math.min(from + width - 1, worst);
    const games = summary.histogram
      .filter((entry) => entry.guesses >= from && entry.guesses <= to)
      .reduce((sum, entry) => sum + entry.games, 0);
    rows.push({ label: from === to ? `${from}` : `${from}-${to}`, games });
  }
  const most = Math.max(...rows.map((row) => row.games));
  const labelWidth = Math.max("guesses".length, ...rows.map((row) => row.label.length));
  const gamesWidth = Math.max("games".length, ...rows.map((row) => `${row.games}`.length));
  lines.push(`${"guesses".padStart(labelWidth)}  ${"games".padStart(gamesWidth)}`);
  for (const { label, games } of rows) {
    const bar = "#".repeat(Math.round((games / most) * BAR_WIDTH));
    lines.push(
      `${label.padStart(labelWidth)}  ${`${games}`.padStart(gamesWidth)}  ${bar}`.trimEnd(),
    );
  }
  return lines;
}

function round(value: number): string {
  return `${Math.round(value * 100) / 100}`;
}

/**
 * What the JSON form says besides the statistics.
 *
 * @example
 * ```ts
 * import type { RunInfo } from "./stats.ts";
 * const info: RunInfo = { strategy: "bisect", lower: 1, upper: 100, seed: 7, count: 1000 };
 * ```
 */
export interface RunInfo {
  /** The server's strategy, `null` for a remote server. */
  readonly strategy: string | null;
  /** The smallest possible secret. */
  readonly lower: number;
  /** The largest possible secret. */
  readonly upper: number;
  /** The seed of the secrets. */
  readonly seed: number;
  /** The guess limit per game. */
  readonly count: number;
}

/**
 * The JSON form: one line, the run's settings and the statistics, the
 * histogram exact (not binned).
 *
 * @param summary The statistics.
 * @param info The run's settings.
 * @returns The JSON text, without a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize, summaryJson } from "./stats.ts";
 * const info = { strategy: "bisect", lower: 1, upper: 5, seed: 1, count: 10 };
 * const json = JSON.parse(summaryJson(summarize({ guesses: [2], unsolved: 0 }), info));
 * assert.equal(json.median, 2);
 * assert.equal(json.histogram[0].games, 1);
 * ```
 */
export function summaryJson(summary: Summary, info: RunInfo): string {
  return JSON.stringify({ ...info, ...summary });
}
