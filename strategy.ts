/**
 * The contract of a guessing strategy: the {@linkcode Strategy} interface, its
 * error, and the seedable random source strategies draw from. The
 * implementations (`random.ts`, `bisect.ts`) import this module; the registry
 * that names them is `strategies.ts`. Pure: no I/O.
 *
 * @module
 */

import type { Decision } from "./protocol.ts";

/**
 * A small, fast, seedable pseudo-random generator (SplitMix32-style), so that
 * a game can be replayed exactly from its seed. Not for cryptography.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./strategy.ts";
 * const a = new Rng(42), b = new Rng(42);
 * assert.equal(a.nextUint32(), b.nextUint32());
 * ```
 */
export class Rng {
  #state: number;

  /**
   * Makes a generator from a seed.
   *
   * @param seed Any safe integer; equal seeds give equal sequences.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Seed must be a safe integer, got ${seed}`);
    }
    // Fold the high bits in so that seeds differing only above bit 31 differ.
    const high = Math.floor(seed / 2 ** 32) | 0;
    this.#state = (seed | 0) ^ Math.imul(high, 0x9e3779b9) ^ 0x6d2b79f5;
  }

  /**
   * Draws 32 random bits.
   *
   * @returns The next value, uniform in [0, 2^32).
   */
  nextUint32(): number {
    this.#state = (this.#state + 0x9e3779b9) | 0;
    return mix32(this.#state);
  }

  /**
   * Makes an independent child generator, for one connection or game.
   *
   * @returns A child generator, seeded from this one.
   */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

/** The murmur3 32-bit finalizer: a cheap bijective mix of 32 bits. */
/**
 * A 32-bit integer hash (murmur3's finaliser): the output stage of
 * {@linkcode Rng} and the round function of the random strategy's permutation.
 *
 * @param x A 32-bit integer.
 * @returns Its hash, an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mix32 } from "./strategy.ts";
 * assert.equal(mix32(1), mix32(1));
 * assert.notEqual(mix32(1), mix32(2));
 * ```
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Thrown by a strategy that has no guess to give: the range is exhausted or the
 * reports contradict each other. The server answers it with an `ERROR` line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StrategyError } from "./strategy.ts";
 * const error = new StrategyError("Range exhausted");
 * assert.equal(error.name, "StrategyError");
 * ```
 */
export class StrategyError extends Error {
  /**
   * Makes a strategy error.
   *
   * @param message What went wrong, starting uppercase, no trailing period.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StrategyError";
  }
}

/**
 * The guesser of one game. `next()` picks a value in [lower, upper];
 * `report()` tells it how the last guess was judged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Strategy } from "./strategy.ts";
 * // The smallest strategy: count up from lower, ignoring the reports.
 * function countUp(lower: number): Strategy {
 *   let next = lower;
 *   return { next: () => next++, report: () => {} };
 * }
 * const strategy = countUp(1);
 * assert.equal(strategy.next(), 1);
 * strategy.report(1, "Unsure");
 * assert.equal(strategy.next(), 2);
 * ```
 */
export interface Strategy {
  /**
   * Picks the next guess.
   *
   * @returns The next guess, an integer in [lower, upper].
   * @throws {StrategyError} When there is no guess left to give.
   */
  next(): number;
  /**
   * Learns how a guess was judged.
   *
   * @param guess The guess that was judged.
   * @param decision The client's judgement of it.
   */
  report(guess: number, decision: Decision): void;
}
