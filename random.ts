/**
 * The seed's strategy, random guesses that ignore the reports: an exact
 * shuffle for small ranges and a keyed permutation for large ones. Pure: no I/O.
 *
 * @module
 */

import type { Decision } from "./protocol.ts";
import { mix32, type Rng, type Strategy, StrategyError } from "./strategy.ts";

const ROUNDS = 6;

/**
 * The seed's strategy: each guess uniform among the values not guessed yet in
 * this game, ignoring the reports. Instead of remembering past guesses it walks
 * a keyed pseudo-random permutation of the range (a balanced Feistel network
 * over the smallest even number of bits that covers the range, with cycle
 * walking), so memory stays O(1) however many guesses a game takes, and no
 * value repeats. Once every value was guessed, `next()` throws. The keyed
 * permutation is pseudo-random, not exactly uniform; {@linkcode createStrategy}
 * uses it for ranges of more than {@linkcode SHUFFLE_LIMIT} values and the exact
 * {@linkcode ShuffleStrategy} below that.
 *
 * @example Five guesses over 1..5 are 1..5 in some order
 * ```ts
 * import assert from "node:assert/strict";
 * import { RandomStrategy } from "./random.ts";
 * import { Rng } from "./strategy.ts";
 * const strategy = new RandomStrategy(1, 5, new Rng(3));
 * const guesses = [1, 2, 3, 4, 5].map(() => strategy.next());
 * assert.equal(guesses.toSorted().join(), "1,2,3,4,5");
 * ```
 */
export class RandomStrategy implements Strategy {
  readonly #lower: number;
  readonly #upper: number;
  /** Bits per Feistel half; the permuted domain is [0, 2^(2·half)). */
  readonly #half: number;
  readonly #scale: number;
  readonly #mask: number;
  readonly #keys: number[];
  #count = 0;

  /**
   * Makes the permutation for one game.
   *
   * @param lower The smallest value, a safe integer.
   * @param upper The largest value, a safe integer, at least `lower`.
   * @param rng Where the permutation's keys come from.
   */
  constructor(lower: number, upper: number, rng: Rng) {
    this.#lower = lower;
    this.#upper = upper;
    // upper - lower may round (up to 2^54 - 2), but never below the power of two
    // under it, so the bit count still covers the range.
    const span = upper - lower;
    let bits = 1;
    while (2 ** bits <= span) bits++;
    this.#half = Math.max(1, Math.ceil(bits / 2));
    this.#scale = 2 ** this.#half;
    this.#mask = this.#scale - 1;
    this.#keys = Array.from({ length: ROUNDS }, () => rng.nextUint32());
  }

  /** Picks the next value of the permutation. */
  next(): number {
    const lower = this.#lower, upper = this.#upper, scale = this.#scale;
    const index = this.#count;
    // lower + index is exact while it is at most upper; past it, rounding is
    // monotone, so the comparison still holds.
    if (lower + index > upper) {
      throw new StrategyError(`Range exhausted: every value in [${lower}, ${upper}] was guessed`);
    }
    this.#count++;
    let left = Math.floor(index / scale);
    let right = index % scale;
    for (;;) {
      for (let round = 0; round < ROUNDS; round++) {
        const next = (left ^ mix32(right ^ this.#keys[round])) & this.#mask;
        left = right;
        right = next;
      }
      // Same monotone-rounding argument: values past upper never compare as in range.
      const value = lower + left * scale + right;
      if (value <= upper) return value;
    }
  }

  /** The seed's strategy ignores reports. */
  report(_guess: number, _decision: Decision): void {}
}

/**
 * Ranges of at most this many values use {@linkcode ShuffleStrategy}; larger
 * ones {@linkcode RandomStrategy}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHUFFLE_LIMIT } from "./random.ts";
 * assert.equal(SHUFFLE_LIMIT, 256);
 * ```
 */
export const SHUFFLE_LIMIT = 256;

/**
 * The seed's strategy for small ranges (at most {@linkcode SHUFFLE_LIMIT}
 * values): an incremental Fisher-Yates shuffle of the range's offsets in a
 * byte array, one swap per guess. Exactly uniform among the values not
 * guessed yet (up to a modulo bias under 2^-24), at most 256 bytes, and about
 * four times cheaper per guess than walking the permutation.
 *
 * @example Six guesses over 10..15 are 10..15 in some order
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShuffleStrategy } from "./random.ts";
 * import { Rng } from "./strategy.ts";
 * const strategy = new ShuffleStrategy(10, 15, new Rng(3));
 * const guesses = [0, 1, 2, 3, 4, 5].map(() => strategy.next());
 * assert.equal(guesses.toSorted().join(), "10,11,12,13,14,15");
 * ```
 */
export class ShuffleStrategy implements Strategy {
  readonly #lower: number;
  readonly #offsets: Uint8Array;
  readonly #rng: Rng;
  #count = 0;

  /**
   * Makes the shuffle for one game.
   *
   * @param lower The smallest value, a safe integer.
   * @param upper The largest value, below `lower + SHUFFLE_LIMIT`.
   * @param rng Where the swaps come from; the strategy keeps a child of it.
   */
  constructor(lower: number, upper: number, rng: Rng) {
    const size = upper - lower + 1;
    if (!(size >= 1 && size <= SHUFFLE_LIMIT)) {
      throw new RangeError(`A shuffle takes 1 to ${SHUFFLE_LIMIT} values, got ${size}`);
    }
    this.#lower = lower;
    this.#offsets = new Uint8Array(size);
    for (let i = 0; i < size; i++) this.#offsets[i] = i;
    this.#rng = rng.fork();
  }

  /** Picks the next value: one swap of the shuffle. */
  next(): number {
    const offsets = this.#offsets, i = this.#count, n = offsets.length;
    if (i >= n) {
      throw new StrategyError(
        `Range exhausted: every value in [${this.#lower}, ${this.#lower + n - 1}] was guessed`,
      );
    }
    // x % m written out: x is a uint32, which V8's % may take through its
    // floating-point path (a call); x / m is close enough for floor() to be exact.
    const x = this.#rng.nextUint32(), m = n - i;
    const j = i + (x - Math.floor(x / m) * m);
    const picked = offsets[j];
    offsets[j] = offsets[i];
    offsets[i] = picked;
    this.#count++;
    return this.#lower + picked;
  }

  /** The seed's strategy ignores reports. */
  report(_guess: number, _decision: Decision): void {}
}
