/**
 * How the server picks its guesses: a seedable random source and the
 * strategies. Pure: no I/O.
 *
 * @module
 */

import { BisectStrategy } from "./bisect.ts";
import type { Decision } from "./protocol.ts";

/**
 * A small, fast, seedable pseudo-random generator (SplitMix32-style), so that
 * a game can be replayed exactly from its seed. Not for cryptography.
 *
 * @example
 * ```ts
 * import { Rng } from "./strategy.ts";
 * const a = new Rng(42), b = new Rng(42);
 * console.assert(a.nextUint32() === b.nextUint32());
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
function mix32(x: number): number {
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
 * import { StrategyError } from "./strategy.ts";
 * const error = new StrategyError("Range exhausted");
 * console.assert(error.name === "StrategyError");
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
 * import { createStrategy, Rng } from "./strategy.ts";
 * const strategy = createStrategy("random", 1, 5, new Rng(1));
 * const guess = strategy.next();
 * strategy.report(guess, "Unsure");
 * console.assert(guess >= 1 && guess <= 5);
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

/**
 * The names of the strategies the server knows.
 *
 * @example
 * ```ts
 * import { STRATEGIES } from "./strategy.ts";
 * console.assert(STRATEGIES.includes("random"));
 * ```
 */
export const STRATEGIES = ["random", "bisect"] as const;

/**
 * A strategy's name: one of {@linkcode STRATEGIES}.
 *
 * @example
 * ```ts
 * import type { StrategyName } from "./strategy.ts";
 * const name: StrategyName = "random";
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
 * import { createStrategy, Rng } from "./strategy.ts";
 * const strategy = createStrategy("random", 10, 15, new Rng(7));
 * console.assert(strategy.next() >= 10);
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
 * import { RandomStrategy, Rng } from "./strategy.ts";
 * const strategy = new RandomStrategy(1, 5, new Rng(3));
 * const guesses = [1, 2, 3, 4, 5].map(() => strategy.next());
 * console.assert(guesses.toSorted().join() === "1,2,3,4,5");
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
 * import { SHUFFLE_LIMIT } from "./strategy.ts";
 * console.assert(SHUFFLE_LIMIT === 256);
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
 * import { Rng, ShuffleStrategy } from "./strategy.ts";
 * const strategy = new ShuffleStrategy(10, 15, new Rng(3));
 * const guesses = [0, 1, 2, 3, 4, 5].map(() => strategy.next());
 * console.assert(guesses.toSorted().join() === "10,11,12,13,14,15");
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
    const j = i + this.#rng.nextUint32() % (n - i);
    const picked = offsets[j];
    offsets[j] = offsets[i];
    offsets[i] = picked;
    this.#count++;
    return this.#lower + picked;
  }

  /** The seed's strategy ignores reports. */
  report(_guess: number, _decision: Decision): void {}
}
