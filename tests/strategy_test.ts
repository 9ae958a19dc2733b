/**
 * The strategy contract's pieces without a game around them: the seedable
 * {@linkcode Rng}, {@linkcode RandomStrategy} and {@linkcode createStrategy}.
 * Properties over any range and seed are in property_test.ts; `bisect` has
 * bisect_test.ts.
 */

import assert from "node:assert/strict";
import { RandomStrategy } from "../random.ts";
import { createStrategy } from "../strategies.ts";
import { Rng, StrategyError } from "../strategy.ts";

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;

function draws(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => rng.nextUint32());
}

Deno.test("Rng() gives the same sequence for the same seed", () => {
  assert.deepEqual(draws(new Rng(42), 20), draws(new Rng(42), 20));
  assert.deepEqual(draws(new Rng(42).fork(), 5), draws(new Rng(42).fork(), 5));
  for (const value of draws(new Rng(7), 1000)) {
    assert.ok(Number.isInteger(value) && value >= 0 && value < 2 ** 32);
  }
});

Deno.test("Rng() gives different sequences for different seeds, also above bit 32", () => {
  assert.notDeepEqual(draws(new Rng(1), 4), draws(new Rng(2), 4));
  assert.notDeepEqual(draws(new Rng(1), 4), draws(new Rng(1 + 2 ** 32), 4));
  assert.notDeepEqual(draws(new Rng(-1), 4), draws(new Rng(1), 4));
});

Deno.test("Rng() rejects a seed that is not a safe integer", () => {
  for (const seed of [1.5, NaN, Infinity, MAX + 1]) {
    assert.throws(() => new Rng(seed), {
      name: "RangeError",
      message: `Seed must be a safe integer, got ${seed}`,
    });
  }
});

/** Draws until the strategy throws; returns the values. */
function drawAll(strategy: RandomStrategy, max: number): number[] {
  const values: number[] = [];
  for (;;) {
    try {
      values.push(strategy.next());
    } catch (error) {
      assert.ok(error instanceof StrategyError, `unexpected ${error}`);
      return values;
    }
    assert.ok(values.length <= max, "more values than the range holds");
  }
}

Deno.test("RandomStrategy draws another order for another seed", () => {
  // The same seed replaying the same order is a property in property_test.ts.
  const order = (seed: number) => drawAll(new RandomStrategy(1, 100, new Rng(seed)), 100);
  assert.notDeepEqual(order(11), order(12));
});

Deno.test("RandomStrategy's first guess is spread evenly over 1..5", () => {
  const counts = [0, 0, 0, 0, 0];
  for (let seed = 0; seed < 5000; seed++) {
    counts[new RandomStrategy(1, 5, new Rng(seed)).next() - 1]++;
  }
  for (const count of counts) assert.ok(count > 850 && count < 1150, `counts ${counts}`);
});

Deno.test("RandomStrategy stays in range and never repeats over huge ranges", () => {
  const ranges: [number, number][] = [
    [MIN, MAX],
    [0, MAX],
    [MIN, -1],
    [-(2 ** 52), -(2 ** 52) + 2 ** 40],
    [MAX - 2 ** 33, MAX],
  ];
  for (const [lower, upper] of ranges) {
    const strategy = createStrategy("random", lower, upper, new Rng(5));
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const value = strategy.next();
      assert.ok(Number.isSafeInteger(value), `${value} is a safe integer`);
      assert.ok(value >= lower && value <= upper, `${value} in [${lower}, ${upper}]`);
      seen.add(value);
    }
    assert.equal(seen.size, 2000, `no repeats in [${lower}, ${upper}]`);
  }
});

Deno.test("createStrategy() makes the random strategy, which ignores reports", () => {
  const a = createStrategy("random", 1, 50, new Rng(8));
  const b = createStrategy("random", 1, 50, new Rng(8));
  const first = a.next();
  assert.equal(b.next(), first);
  a.report(first, "Warmer");
  b.report(first, "Colder");
  assert.equal(a.next(), b.next());
});
