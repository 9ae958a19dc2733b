/**
 * `play --games K`: the statistics, their text and JSON forms, the seeded
 * secrets, and the CLI as a real subprocess.
 */

import assert from "node:assert/strict";
import { openInProcess } from "../cli/demo.ts";
import {
  formatSummary,
  playGames,
  randomInteger,
  summarize,
  type Summary,
  summaryJson,
} from "../cli/stats.ts";
import { Rng } from "../strategy.ts";
import { DEFAULT_TIMEOUT, readStreamUntil, runMain, spawnCli, withTimeout } from "./helpers.ts";

Deno.test("summarize() gives mean, median, best, worst and the exact histogram of solved games", () => {
  assert.deepEqual(summarize({ guesses: [3, 1, 4, 1, 5], unsolved: 0 }), {
    games: 5,
    unsolved: 0,
    mean: 2.8,
    median: 3,
    best: 1,
    worst: 5,
    histogram: [
      { guesses: 1, games: 2 },
      { guesses: 3, games: 1 },
      { guesses: 4, games: 1 },
      { guesses: 5, games: 1 },
    ],
  });
  const even = summarize({ guesses: [7, 2, 4, 9], unsolved: 2 });
  assert.equal(even.median, 5.5);
  assert.equal(even.games, 6);
  assert.equal(even.unsolved, 2);
  assert.equal(even.mean, 5.5);
});

Deno.test("summarize() of no solved game has null statistics and an empty histogram", () => {
  const summary = summarize({ guesses: [], unsolved: 3 });
  assert.deepEqual(summary, {
    games: 3,
    unsolved: 3,
    mean: null,
    median: null,
    best: null,
    worst: null,
    histogram: [],
  });
  assert.deepEqual(formatSummary(summary, "3 games", 50), [
    "3 games",
    "no game solved",
    "unsolved 3 (no Correct within 50 guesses)",
  ]);
});

Deno.test("formatSummary() prints one row per guess count with bars scaled to the largest", () => {
  const summary = summarize({ guesses: [1, 2, 2, 2, 2, 4], unsolved: 0 });
  assert.deepEqual(formatSummary(summary, "6 games of bisect over [1, 8], seed 1", 100), [
    "6 games of bisect over [1, 8], seed 1",
    "mean 2.17, median 2, worst 4, best 1",
    "guesses  games",
    "      1      1  ##########",
    "      2      4  ########################################",
    "      3      0",
    "      4      1  ##########",
  ]);
});

Deno.test("formatSummary() puts wide spreads in at most 20 equal bins", () => {
  const guesses = Array.from({ length: 100 }, (_, i) => i + 1);
  const lines = formatSummary(summarize({ guesses, unsolved: 1 }), "h", 100);
  assert.equal(lines[1], "mean 50.5, median 50.5, worst 100, best 1");
  assert.equal(lines[2], "unsolved 1 (no Correct within 100 guesses)");
  const rows = lines.slice(4);
  assert.equal(rows.length, 20);
  assert.equal(rows[0], "    1-5      5  " + "#".repeat(40));
  assert.equal(rows[19], " 96-100      5  " + "#".repeat(40));
});

Deno.test("summaryJson() is one line of the settings and the statistics", () => {
  const summary: Summary = summarize({ guesses: [2, 3], unsolved: 0 });
  const info = { strategy: "bisect", lower: -5, upper: 5, seed: 9, count: 10 };
  const text = summaryJson(summary, info);
  assert.ok(!text.includes("\n"));
  assert.deepEqual(JSON.parse(text), { ...info, ...summary });
});

Deno.test("randomInteger() stays in range, covers it, and replays from the seed", () => {
  const rng = new Rng(5);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const value = randomInteger(rng, -2, 2);
    assert.ok(value >= -2 && value <= 2);
    seen.add(value);
  }
  assert.equal(seen.size, 5);
  const min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < 1000; i++) {
    const value = randomInteger(rng, min, max);
    assert.ok(Number.isSafeInteger(value));
  }
  assert.equal(randomInteger(rng, 7, 7), 7);
  const a = new Rng(11), b = new Rng(11);
  assert.deepEqual(
    Array.from({ length: 5 }, () => randomInteger(a, 1, 1e9)),
    Array.from({ length: 5 }, () => randomInteger(b, 1, 1e9)),
  );
});

Deno.test("playGames() with bisect solves every game within ceil(log2 N) + 2, the same games for the same seed", async () => {
  const play = async () => {
    await using table = openInProcess({ strategy: "bisect" });
    return await playGames(table, { lower: -50, upper: 49, games: 200, count: 100, seed: 3 });
  };
  const first = await play();
  assert.equal(first.unsolved, 0);
  assert.equal(first.guesses.length, 200);
  assert.ok(first.guesses.every((n) => n >= 1 && n <= 9));
  assert.deepEqual(await play(), first);
});

Deno.test("playGames() counts a game that hits the guess limit as unsolved", async () => {
  await using table = openInProcess({ strategy: "random", seed: 1 });
  const tally = await playGames(table, { lower: 1, upper: 1000, games: 5, count: 1, seed: 1 });
  assert.equal(tally.guesses.length + tally.unsolved, 5);
  assert.ok(tally.unsolved >= 4);
});

Deno.test("play --games prints the statistics of the seeded games, the same as playGames()", async () => {
  const { code, stdout, stderr } = await runMain([
    "play",
    "--games",
    "300",
    "--strategy",
    "bisect",
    "--seed",
    "7",
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  await using table = openInProcess({ strategy: "bisect", seed: 7 });
  const tally = await playGames(table, {
    lower: 1,
    upper: 100,
    games: 300,
    count: 10_000,
    seed: 7,
  });
  const heading = "300 games of bisect over [1, 100], seed 7";
  assert.equal(stdout, formatSummary(summarize(tally), heading, 10_000).join("\n") + "\n");
  assert.match(stdout, /^mean \d+(\.\d+)?, median \d+(\.5)?, worst [1-9], best 1$/m);
});

Deno.test("play --games --json prints one JSON line; --range and --count apply", async () => {
  const { code, stdout } = await runMain([
    "play",
    "--games=50",
    "--range=-1000,1000",
    "--seed=-3",
    "--count=40",
    "--json",
  ]);
  assert.equal(code, 0);
  assert.equal(stdout.split("\n").length, 2);
  const json = JSON.parse(stdout);
  assert.deepEqual(
    [json.strategy, json.lower, json.upper, json.seed, json.count, json.games],
    ["random", -1000, 1000, -3, 40, 50],
  );
  const solved = json.histogram.reduce((sum: number, row: { games: number }) => sum + row.games, 0);
  assert.equal(solved + json.unsolved, 50);
  assert.ok(json.unsolved > 0, "Random needs more than 40 guesses for most of 2001 values");
});

Deno.test("play --games, --human, --range and --json misused exit 2 with the reason", async () => {
  const cases: [string[], string][] = [
    [["--games", "5", "--human"], "--human and --games exclude each other"],
    [["--games", "5", "--game", "1,5,3"], "--game applies to the seed's demo, not --games"],
    [["--range", "1,5"], "--range applies to --human, --guess and --games"],
    [["--guess", "--human"], "--human and --guess exclude each other"],
    [["--guess", "--connect", "127.0.0.1:1"], "--guess is played in this process, not --connect"],
    [["--guess", "--strategy", "bisect"], "--strategy does not apply to --guess"],
    [["--json"], "--json applies to --games"],
    [["--human", "--count", "3"], "--count does not apply to --human"],
    [["--games", "0"], '--games needs an integer from 1 to 1000000, got "0"'],
    [
      ["--games", "3", "--range", "5,1"],
      '--range needs LOWER,UPPER, safe integers with LOWER <= UPPER, got "5,1"',
    ],
    [
      ["--human", "--range", "1,2,3"],
      '--range needs LOWER,UPPER, safe integers with LOWER <= UPPER, got "1,2,3"',
    ],
    [
      ["--games", "3", "--connect", "127.0.0.1:1", "--strategy", "bisect"],
      "--strategy and --seed apply to the in-process server, not --connect",
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => runMain(["play", ...args])));
  results.forEach(({ code, stdout, stderr }, i) => {
    assert.equal(code, 2, cases[i][0].join(" "));
    assert.equal(stdout, "");
    assert.equal(stderr, `guess: ${cases[i][1]}\nTry 'guess play --help'\n`);
  });
});

Deno.test("play --games prints its heading with the seed first, and on SIGINT the partial result, exit 130", async () => {
  await using child = spawnCli([
    "play",
    "--games",
    "1000000",
    "--strategy",
    "bisect",
    "--seed",
    "5",
  ]);
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const heading = "1000000 games of bisect over [1, 100], seed 5\n";
  const first = await readStreamUntil(reader, (text) => text.includes("\n"));
  assert.equal(first, heading);
  child.kill("SIGINT");
  const rest = await readStreamUntil(reader, () => false);
  const status = await withTimeout(child.status, DEFAULT_TIMEOUT, "play --games to exit");
  assert.equal(status.code, 130);
  const lines = rest.split("\n");
  assert.match(lines[0], /^mean \d+(\.\d+)?, median \d+(\.5)?, worst [1-9], best 1$/);
  const played = Number((await stderr).match(/^Interrupted: (\d+) of 1000000 games played\n$/)![1]);
  assert.ok(played < 1_000_000);
  const histogram = lines.slice(2, -1).map((line) => Number(line.trim().split(/\s+/)[1]));
  assert.equal(histogram.reduce((sum, n) => sum + n, 0), played);
});
