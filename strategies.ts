/**
 * The registry of strategies: their names and the factory that makes one for
 * a game. It is the only module that knows every implementation, so the
 * contract (`strategy.ts`) knows none of them.
 *
 * @module
 */

import { BisectStrategy } from "./bisect.ts";
import { RandomStrategy, SHUFFLE_LIMIT, ShuffleStrategy } from "./random.ts";
import type { Rng, Strategy } from "./strategy.ts";

/**
 * The names of the strategies the server knows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STRATEGIES } from "./strategies.ts";
 * assert.ok(STRATEGIES.includes("random"));
 * ```
 */
export const STRATEGIES = ["random", "bisect"] as const;

/**
 * A strategy's name: one of {@linkcode STRATEGIES}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STRATEGIES, type StrategyName } from "./strategies.ts";
 * const name: StrategyName = "random";
 * assert.ok(STRATEGIES.includes(name));
 * ```
 */
export type StrategyName = typeof STRATEGIES[number];

/**
 * Makes the strategy for one game over [lower, upper].
 *
 * @param name Which strategy.
 * @param lower The smallest possible secret, a safe integer.
 * @param upper The largest possible secret, a safe integer, at least `lower`.
 * @param rng The random source; the strategy draws from it only here.
 * @returns The strategy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createStrategy } from "./strategies.ts";
 * import { Rng } from "./strategy.ts";
 * const strategy = createStrategy("random", 10, 15, new Rng(7));
 * assert.ok(strategy.next() >= 10);
 * ```
 */
export function createStrategy(
  name: StrategyName,
  lower: number,
  upper: number,
  rng: Rng,
): Strategy {
  switch (name) {
    case "random":
      return upper - lower < SHUFFLE_LIMIT
        ? new ShuffleStrategy(lower, upper, rng)
        : new RandomStrategy(lower, upper, rng);
    case "bisect":
      return new BisectStrategy(lower, upper);
    default: {
      const unknown: never = name;
      throw new RangeError(`Unknown strategy ${unknown}`);
    }
  }
}

/**
 * Tells whether a string names a strategy.
 *
 * @param text The text, e.g. a command-line option.
 * @returns Whether it is a {@linkcode StrategyName}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStrategyName } from "./strategies.ts";
 * assert.ok(isStrategyName("bisect"));
 * assert.ok(!isStrategyName("Bisect"));
 * ```
 */
export function isStrategyName(text: string): text is StrategyName {
  return (STRATEGIES as readonly string[]).includes(text);
}
