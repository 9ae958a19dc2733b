/**
 * The `bisect` strategy, played directly against the client's judge (no
 * sockets): every secret of every range size up to 2000 at several offsets,
 * sampled ranges up to the whole safe-integer range, fast-check properties,
 * and contradictory reports, down to the wire.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { BisectStrategy } from "../bisect.ts";
import { type Decision, DECISIONS, judge, ServerConnection } from "../protocol.ts";
import { createStrategy, STRATEGIES } from "../strategies.ts";
import { Rng, StrategyError } from "../strategy.ts";

const SEED = 20261125;
const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;
const encoder = new TextEncoder();

/** ceil(log2 size) + 2: the most guesses allowed, counting the final `Correct`. */
function bound(size: bigint): number {
  const bits = size === 1n ? 0 : (size - 1n).toString(2).length; // ceil(log2 size)
  return bits + 2;
}

/**
 * Plays one game of `strategy` against the judge and returns the guesses;
 * fails when a guess leaves [lower, upper] or the game outlasts `limit`.
 */
function play(lower: number, upper: number, secret: number, limit = 120): number[] {
  const strategy = new BisectStrategy(lower, upper);
  const guesses: number[] = [];
  let previous: bigint | undefined;
  while (guesses.length < limit) {
    const guess = strategy.next();
    assert.ok(
      Number.isSafeInteger(guess) && lower <= guess && guess <= upper,
      `Guess ${guess} outside [${lower}, ${upper}] (secret ${secret}, after ${guesses})`,
    );
    guesses.push(guess);
    const { decision, distance } = judge(secret, guess, previous);
    previous = distance;
    strategy.report(guess, decision);
    if (decision === "Correct") return guesses;
  }
  throw new Error(`No Correct within ${limit} guesses over [${lower}, ${upper}], secret ${secret}`);
}

const NOT_CORRECT = ["Warmer", "Colder", "Unsure"] as const;

/**
 * Plays every secret of [1, size] at once, walking the strategy's game tree:
 * at each node the secrets that got there are judged one by one with the
 * client's judge and go down the branch of their decision (a clone of the
 * strategy told that decision). At every node the strategies of the other
 * offsets, told the same decisions, must guess the same value shifted: their
 * games are the same games, translated. Returns the worst and total guesses.
 */
function playAll(size: number, offsets: readonly number[]): { worst: number; total: number } {
  let worst = 0, total = 0;
  const walk = (
    strategies: BisectStrategy[],
    secrets: number[],
    distances: (bigint | undefined)[],
    depth: number,
  ): void => {
    const guess = strategies[0].next();
    assert.ok(1 <= guess && guess <= size, `Guess ${guess} outside [1, ${size}]`);
    offsets.forEach((offset, i) => {
      const shifted = strategies[i + 1].next();
      if (shifted !== guess + offset) {
        assert.fail(
          `Over [${1 + offset}, ${size + offset}] guessed ${shifted}, not ${guess + offset}`,
        );
      }
    });
    const groups = NOT_CORRECT.map(() => ({ secrets: [] as number[], distances: [] as bigint[] }));
    for (let i = 0; i < secrets.length; i++) {
      const { decision, distance } = judge(secrets[i], guess, distances[i]);
      if (decision === "Correct") {
        worst = Math.max(worst, depth);
        total += depth;
      } else {
        const group = groups[NOT_CORRECT.indexOf(decision)];
        group.secrets.push(secrets[i]);
        group.distances.push(distance);
      }
    }
    groups.forEach((group, k) => {
      if (group.secrets.length === 0) return;
      const children = strategies.map((strategy, i) => {
        const child = strategy.clone();
        child.report(i === 0 ? guess : guess + offsets[i - 1], NOT_CORRECT[k]);
        return child;
      });
      walk(children, group.secrets, group.distances, depth + 1);
    });
  };
  const secrets = Array.from({ length: size }, (_, i) => i + 1);
  const strategies = [0, ...offsets].map((offset) => new BisectStrategy(1 + offset, size + offset));
  walk(strategies, secrets, secrets.map(() => undefined), 1);
  return { worst, total };
}

Deno.test("BisectStrategy() finds every secret within ceil(log2 N) + 2 guesses, between log2 N and log2 N + 1.75 on average, for N = 1..2000, at offsets 0, MIN_SAFE_INTEGER and MAX_SAFE_INTEGER", () => {
  const worst: number[] = [];
  for (let size = 1; size <= 2000; size++) {
    // [MIN, MIN + size - 1] and [MAX - size + 1, MAX]: sums of bounds far outside the safe range.
    const result = playAll(size, [MIN - 1, MAX - size]);
    worst[size] = result.worst;
    assert.ok(result.worst <= bound(BigInt(size)), `N = ${size}: ${result.worst} guesses`);
    const mean = result.total / size;
    // The mean claimed in bisect.ts and BENCHMARKS.md.
    assert.ok(
      Math.log2(size) <= mean && mean <= Math.log2(size) + 1.75,
      `N = ${size}: mean ${mean}`,
    );
  }
  // Within one guess of the in-range optimum (3 for N = 5, 4 for 6..10, 8 for 100).
  assert.deepEqual(worst.slice(1, 11), [1, 2, 3, 4, 4, 4, 4, 5, 5, 5]);
  assert.equal(worst[100], 9);
  assert.equal(worst[1000], 12);
});

Deno.test("BisectStrategy() plays negative ranges and ranges across 0 like [1, N] shifted", () => {
  for (const size of [1, 2, 3, 7, 64, 100, 257]) {
    assert.deepEqual(playAll(size, [-size - 5, -Math.floor(size / 2), -1]), playAll(size, []));
  }
});

Deno.test("BisectStrategy() stays in range and within the bound on sampled ranges up to the whole safe range", () => {
  const rng = new Rng(SEED);
  const sizes = [10n ** 4n, 10n ** 6n, 2n ** 31n, 2n ** 31n + 1n, 2n ** 53n, 2n ** 54n - 1n];
  for (const size of sizes) {
    for (const lower of [1n, BigInt(MIN), BigInt(MAX) - size + 1n, -(size / 2n)]) {
      if (lower < BigInt(MIN) || lower + size - 1n > BigInt(MAX)) continue;
      const upper = lower + size - 1n;
      // The ends and the split points are where rounding accumulates.
      const secrets: bigint[] = [];
      for (const point of [0n, size / 4n, size / 3n, size / 2n, (3n * size) / 4n, size - 1n]) {
        for (let d = -40n; d <= 40n; d++) {
          if (point + d >= 0n && point + d < size) secrets.push(point + d);
        }
      }
      for (let i = 0; i < 40; i++) {
        const random = (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32());
        secrets.push(random % size);
      }
      for (const offset of secrets) {
        const secret = Number(lower + offset);
        const guesses = play(Number(lower), Number(upper), secret);
        assert.ok(
          guesses.length <= bound(size),
          `[${lower}, ${upper}], secret ${secret}: ${guesses}`,
        );
      }
    }
  }
});

Deno.test("BisectStrategy() stays within the bound where rounding once cost a guess near the end", () => {
  // Found by a stress run before the endgame rule: [lower, upper], secret, bound.
  const cases: [number, number, number][] = [
    [13079460038, 6539730020, 36],
    [13079460038, 13079460013, 36],
    [1696536327, 848268162, 33],
    [1696536327, 1696536301, 33],
    [54081719, 27040861, 28],
    [54081719, 54081693, 28],
  ];
  for (const [size, offset, most] of cases) {
    assert.equal(bound(BigInt(size)), most);
    for (const lower of [0, -6033375632547646]) {
      const guesses = play(lower, lower + size - 1, lower + offset);
      assert.ok(guesses.length <= most, `N = ${size}, secret at ${offset}: ${guesses.length}`);
    }
  }
});

Deno.test("BisectStrategy() over [MIN_SAFE_INTEGER, MAX_SAFE_INTEGER] starts at the bounds' exact middle", () => {
  const strategy = new BisectStrategy(MIN, MAX);
  assert.equal(strategy.candidates(), 2n ** 54n - 1n);
  assert.equal(strategy.next(), MIN);
  strategy.report(MIN, "Unsure");
  assert.equal(strategy.next(), 0);
  strategy.report(0, "Warmer"); // closer to 0 than to MIN: above MIN / 2
  // [-(2^52) + 1, MAX] without 0.
  assert.equal(strategy.candidates(), 2n ** 53n + 2n ** 52n - 2n);
  assert.deepEqual(play(MIN, MAX, MAX).at(-1), MAX);
  assert.deepEqual(play(MIN, MAX, MIN + 1).at(-1), MIN + 1);
});

const range = fc.oneof(
  fc.integer({ min: 0, max: 53 }).map((bits) => 2n ** BigInt(bits)),
  fc.bigInt(1n, 2000n),
  fc.bigInt(1n, 2n ** 54n - 1n),
).chain((size) =>
  fc.record({
    size: fc.constant(size),
    lower: fc.bigInt(BigInt(MIN), BigInt(MAX) - size + 1n),
    secret: fc.oneof(
      fc.bigInt(0n, size - 1n),
      fc.constantFrom(0n, size - 1n, size / 2n, size / 4n),
      // Near the ends and the middle, where rounding accumulates.
      fc.bigInt(0n, size < 40n ? size - 1n : 40n).map((n) => size - 1n - n),
      fc.bigInt(-40n, 40n).map((n) => size / 2n + n).filter((n) => n >= 0n && n < size),
    ),
  })
).filter(({ size, lower }) => lower + size - 1n <= BigInt(MAX));

Deno.test("BisectStrategy() property: every guess is in range and the game ends within ceil(log2 N) + 2", () => {
  fc.assert(
    fc.property(range, ({ size, lower, secret }) => {
      const upper = lower + size - 1n;
      const guesses = play(Number(lower), Number(upper), Number(lower + secret));
      assert.ok(guesses.length <= bound(size), `${guesses.length} guesses`);
      assert.equal(guesses.at(-1), Number(lower + secret));
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

/** How many secrets of [lower, upper] the judge would have given exactly these reports. */
function fitting(lower: number, upper: number, reports: [number, Decision][]): number {
  let count = 0;
  for (let secret = lower; secret <= upper; secret++) {
    let previous: bigint | undefined;
    const fits = reports.every(([guess, decision]) => {
      const verdict = judge(secret, guess, previous);
      previous = verdict.distance;
      return verdict.decision === decision;
    });
    if (fits) count++;
  }
  return count;
}

Deno.test("BisectStrategy() property: candidates() counts exactly the secrets that fit any reports, and next() throws once none does", () => {
  const game = fc.record({
    lower: fc.integer({ min: -20, max: 20 }),
    size: fc.integer({ min: 1, max: 40 }),
    steps: fc.array(
      fc.record({
        own: fc.boolean(), // the strategy's guess, or any value (a mirror of another server)
        any: fc.nat(),
        decision: fc.constantFrom(...DECISIONS),
      }),
      { maxLength: 12 },
    ),
  });
  fc.assert(
    fc.property(game, ({ lower, size, steps }) => {
      const upper = lower + size - 1;
      const strategy = new BisectStrategy(lower, upper);
      const reports: [number, Decision][] = [];
      for (const { own, any, decision } of steps) {
        const count = fitting(lower, upper, reports);
        assert.equal(strategy.candidates(), BigInt(count), `after ${JSON.stringify(reports)}`);
        if (count === 0) {
          assert.throws(() => strategy.next(), (error: unknown) => {
            assert.ok(error instanceof StrategyError);
            assert.match(
              error.message,
              /^Inconsistent reports: no secret in \[-?\d+, -?\d+\] fits /,
            );
            return true;
          });
        } else {
          const guess = strategy.next();
          assert.ok(lower <= guess && guess <= upper);
        }
        const guess = own && count > 0 ? strategy.next() : lower + (any % size);
        strategy.report(guess, decision);
        reports.push([guess, decision]);
      }
      assert.equal(strategy.candidates(), BigInt(fitting(lower, upper, reports)));
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("BisectStrategy() next() throws Inconsistent reports after Warmer for a first guess or a repeated one", () => {
  const first = new BisectStrategy(1, 10);
  first.report(first.next(), "Warmer");
  assert.throws(() => first.next(), {
    name: "StrategyError",
    message: "Inconsistent reports: no secret in [1, 10] fits Warmer for 1 as the first guess",
  });
  const repeated = new BisectStrategy(1, 10);
  repeated.report(5, "Unsure");
  repeated.report(5, "Colder");
  assert.throws(() => repeated.next(), {
    name: "StrategyError",
    message:
      "Inconsistent reports: no secret in [1, 10] fits Colder for 5 after 5 and the reports before",
  });
});

Deno.test("BisectStrategy() next() throws when Unsure pins a value already ruled out or between two integers", () => {
  const ruledOut = new BisectStrategy(1, 10);
  ruledOut.report(4, "Unsure"); // not 4
  ruledOut.report(2, "Unsure"); // then 3
  assert.equal(ruledOut.candidates(), 1n);
  assert.equal(ruledOut.next(), 3);
  ruledOut.report(3, "Warmer"); // 3 is not it after all
  assert.equal(ruledOut.candidates(), 0n);
  assert.throws(
    () => ruledOut.next(),
    /^StrategyError: Inconsistent reports: no secret in \[1, 10\] fits Warmer for 3 after 2/,
  );
  const between = new BisectStrategy(1, 10);
  between.report(4, "Unsure");
  between.report(7, "Unsure"); // 5.5
  assert.throws(() => between.next(), StrategyError);
});

Deno.test("BisectStrategy() repeats its guess when asked twice without a report, and clone() is independent", () => {
  const strategy = new BisectStrategy(1, 100);
  assert.equal(strategy.next(), 1);
  assert.equal(strategy.next(), 1);
  strategy.report(1, "Unsure");
  const copy = strategy.clone();
  assert.equal(strategy.next(), 50);
  copy.report(50, "Colder");
  assert.equal(copy.candidates(), 24n); // 2..25
  assert.equal(strategy.candidates(), 99n);
  assert.equal(strategy.next(), 50);
});

Deno.test("BisectStrategy() rejects bounds that are not safe integers in order", () => {
  assert.throws(() => new BisectStrategy(2, 1), RangeError);
  assert.throws(() => new BisectStrategy(0, MAX + 1), RangeError);
  assert.throws(() => new BisectStrategy(0.5, 1), RangeError);
});

Deno.test("createStrategy() knows bisect, and the seed's demo games end within 5 guesses", () => {
  assert.deepEqual([...STRATEGIES], ["random", "bisect"]);
  const strategy = createStrategy("bisect", 1, 5, new Rng(1));
  assert.ok(strategy instanceof BisectStrategy);
  assert.deepEqual(play(1, 5, 3), [1, 3]);
  assert.deepEqual(play(10, 15, 12), [10, 12]);
  for (let secret = 10; secret <= 15; secret++) assert.ok(play(10, 15, secret).length <= 4);
});

Deno.test("ServerConnection with bisect answers ERROR Inconsistent reports on the next NUMBER, and PARAMS starts afresh", () => {
  const connection = new ServerConnection({ strategy: "bisect", rng: new Rng(1) });
  const input = [
    "PARAMS 1 100",
    "NUMBER",
    "REPORT Unsure",
    "NUMBER",
    "REPORT Warmer", // above 25
    "NUMBER",
    "REPORT Colder", // 76 is farther than 50: below 63
    "REPORT Warmer", // 76 again, yet closer than itself: no secret fits
    "NUMBER",
    "PARAMS 1 100",
    "NUMBER",
    "",
  ].join("\n");
  assert.equal(
    connection.receive(encoder.encode(input)),
    "1\n50\n76\n" +
      "ERROR Inconsistent reports: no secret in [1, 100] fits Warmer for 76 after 76 and the reports before\n" +
      "1\n",
  );
});
