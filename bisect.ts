/**
 * The `bisect` strategy: it keeps the secrets that fit every report and picks
 * each guess so that the next report halves them, in about log2 N guesses
 * instead of the seed's (N + 1) / 2. Pure: no I/O.
 *
 * After guesses a then b, `Warmer` means the secret is closer to b than to a,
 * `Colder` the reverse and `Unsure` that it sits exactly at (a + b) / 2. So the
 * guess that halves the candidates [lo, hi] after guess p is the reflection
 * lo + hi - p, which may lie outside [lo, hi] (that is allowed) but must lie
 * inside the game's range. How the guesses stay inside it:
 *
 * 1. The first guess is the lower bound (its report carries no information).
 * 2. The second is the middle. Its report splits the range 1:3, and in the
 *    larger part the previous guess sits a third of the way in, from where
 *    plain reflections keep inside the range (an interval at an edge of the
 *    range stays well placed exactly when the previous guess is two thirds
 *    away from that edge, and that ratio is what reflecting preserves).
 * 3. Then reflections. When a reflection falls outside the range (in the
 *    smaller part above), the guess goes inside the candidates, two thirds of
 *    the way from the nearer edge of the range, so that the next reflection
 *    halves again. When the previous guess sits at the centre, its neighbour
 *    halves instead; when a guess would split nothing, it is the candidates'
 *    end nearer to the previous guess.
 * 4. Rounding moves the previous guess a few values off its ideal place, which
 *    matters only near the end: with at most 16 candidates left, a reflection
 *    outside the range is replaced by the best of about ten guesses (the
 *    range's end and its neighbours, the candidates' ends, middle and
 *    two-thirds points), judged by their outcomes.
 *
 * Checked by `tests/bisect_test.ts` (every secret, every range size up to 2000,
 * the ends and quarter points of random sizes up to 2^54): at most
 * ceil(log2 N) + 2 guesses counting the final `Correct`; and, over every secret
 * of each N up to 2000, between log2 N and log2 N + 1.75 on average.
 * All arithmetic is exact in bigint, so any bounds the protocol accepts work,
 * including [MIN_SAFE_INTEGER, MAX_SAFE_INTEGER].
 *
 * @module
 */

import type { Decision } from "./protocol.ts";
import { type Strategy, StrategyError } from "./strategy.ts";

/** Up to this many candidates, a reflection out of range is replaced by the best of a few guesses. */
const ENDGAME = 16n;

const NOT_CORRECT: readonly Decision[] = ["Warmer", "Colder", "Unsure"];

/** Floor of x / 2 (bigint `>>` rounds toward minus infinity). */
function floorHalf(x: bigint): bigint {
  return x >> 1n;
}

/** Ceiling of x / 2. */
function ceilHalf(x: bigint): bigint {
  return -(-x >> 1n);
}

/** Two thirds of hi - lo, rounded to the nearest (hi >= lo). */
function twoThirds(lo: bigint, hi: bigint): bigint {
  return (2n * (hi - lo) + 1n) / 3n;
}

/**
 * The feedback-driven strategy: each guess is an integer inside
 * [lower, upper], computed in O(1) time and memory from the candidates, an
 * interval [lo, hi] that fits every report so far, minus the wrong guesses
 * inside it (at most one or two, never a list of candidates).
 *
 * Reports that no secret fits make the next {@linkcode BisectStrategy.next}
 * throw a {@linkcode StrategyError} `Inconsistent reports: …`; the server
 * answers it with an `ERROR` line, and a new game (`PARAMS`) starts afresh.
 *
 * @example The seed's second game, secret 12: found on the second guess
 * ```ts
 * import assert from "node:assert/strict";
 * import { BisectStrategy } from "./bisect.ts";
 * import { judge } from "./protocol.ts";
 * const strategy = new BisectStrategy(10, 15);
 * let previous: bigint | undefined;
 * const guesses: number[] = [];
 * for (;;) {
 *   const guess = strategy.next();
 *   const { decision, distance } = judge(12, guess, previous);
 *   previous = distance;
 *   strategy.report(guess, decision);
 *   guesses.push(guess);
 *   if (decision === "Correct") break;
 * }
 * assert.equal(guesses.join(), "10,12");
 * ```
 */
export class BisectStrategy implements Strategy {
  /** The game's range. */
  readonly #lower: bigint;
  readonly #upper: bigint;
  /** The candidates: [lo, hi] minus the holes; lo > hi when none is left. */
  #lo: bigint;
  #hi: bigint;
  /** Guesses judged wrong strictly inside (lo, hi). */
  #holes: bigint[] = [];
  /** The guess of the last report: the one the client compares the next guess with. */
  #last: bigint | undefined;
  #reports = 0;
  /** Why no candidate is left, once none is. */
  #contradiction = "";

  /**
   * Starts a game over [lower, upper], every value a candidate.
   *
   * @param lower The smallest possible secret, a safe integer.
   * @param upper The largest possible secret, a safe integer, at least `lower`.
   * @throws {RangeError} When the bounds are not safe integers with lower ≤ upper.
   */
  constructor(lower: number, upper: number) {
    if (!Number.isSafeInteger(lower) || !Number.isSafeInteger(upper) || lower > upper) {
      throw new RangeError(
        `Bounds must be safe integers with lower <= upper, got ${lower} and ${upper}`,
      );
    }
    this.#lower = this.#lo = BigInt(lower);
    this.#upper = this.#hi = BigInt(upper);
  }

  /**
   * How many secrets still fit every report: 0 after contradictory reports, 1
   * once the secret is known. A bigint, because the full safe-integer range
   * holds 2^54 - 1 values.
   *
   * @returns The number of candidates.
   */
  candidates(): bigint {
    return this.#lo > this.#hi ? 0n : this.#hi - this.#lo + 1n - BigInt(this.#holes.length);
  }

  /**
   * A copy in the same state, e.g. to explore every branch of a game.
   *
   * @returns The copy; reports to it do not affect this strategy.
   */
  clone(): BisectStrategy {
    const copy = new BisectStrategy(Number(this.#lower), Number(this.#upper));
    copy.#lo = this.#lo;
    copy.#hi = this.#hi;
    copy.#holes = [...this.#holes];
    copy.#last = this.#last;
    copy.#reports = this.#reports;
    copy.#contradiction = this.#contradiction;
    return copy;
  }

  /**
   * Picks the next guess. Without a report in between it picks the same one.
   *
   * @returns The next guess, an integer in [lower, upper].
   * @throws {StrategyError} When no secret fits the reports.
   */
  next(): number {
    const count = this.candidates();
    if (count === 0n) throw new StrategyError(this.#contradiction);
    const lower = this.#lower, upper = this.#upper, lo = this.#lo, hi = this.#hi;
    const previous = this.#last;
    // lo and hi are always candidates, so with two left one guess decides.
    if (count <= 2n || previous === undefined) return Number(previous === undefined ? lower : lo);
    if (this.#reports === 1 && previous === lower) return Number(lower + (upper - lower) / 2n);
    let guess = lo + hi - previous; // the reflection: its report halves the candidates
    if (guess === previous) guess = previous + 1n; // the centre: its neighbour halves
    else if (guess < lower || guess > upper) {
      if (count <= ENDGAME) return Number(this.#endgame(guess < lower, previous));
      // Inside, two thirds away from the range's nearer end: the next reflection halves.
      guess = guess < lower ? lo + twoThirds(lo, hi) : hi - twoThirds(lo, hi);
    }
    if (!this.#splits(guess, previous)) guess = previous - lo <= hi - previous ? lo : hi;
    return Number(guess);
  }

  /**
   * Few candidates left and the reflection out of range: rounding has moved
   * the previous guess off its ideal place, and a whole guess to move it back
   * costs too much. Tries the guesses at the range's end, near the
   * candidates' ends and middle, and the two-thirds points, and keeps the one
   * whose worst outcome leaves the fewest guesses for a bisection (the bit
   * length of the count), then the fewest candidates, then the previous
   * guess nearest to them, then a guess that may be correct.
   */
  #endgame(below: boolean, previous: bigint): bigint {
    const lo = this.#lo, hi = this.#hi, third = twoThirds(lo, hi);
    const edge = below ? this.#lower : this.#upper, inward = below ? 1n : -1n;
    const options = [edge, edge + inward, edge + 2n * inward, edge + 3n * inward];
    options.push(lo, hi, lo + 1n, hi - 1n, lo + third, hi - third, lo + (hi - lo) / 2n);
    let best = lo, bestScore = Infinity;
    for (const guess of options) {
      if (guess < this.#lower || guess > this.#upper || guess === previous) continue;
      let bits = 0, most = 0n, away = 0;
      for (const decision of NOT_CORRECT) {
        const outcome = this.clone();
        outcome.report(Number(guess), decision);
        const count = outcome.candidates();
        if (count === 0n) continue;
        bits = Math.max(bits, count.toString(2).length);
        if (count > most) most = count;
        if (count < 2n) continue;
        const outside = guess < outcome.#lo
          ? outcome.#lo - guess
          : guess > outcome.#hi
          ? guess - outcome.#hi
          : 0n;
        away += Number(outside) / Number(outcome.#hi - outcome.#lo + 1n);
      }
      const maybe = this.#isCandidate(guess) ? 0 : 1;
      const score = bits * 1e9 + Number(most) * 1e4 + Math.min(999, Math.round(away * 100)) * 2 +
        maybe;
      if (score < bestScore) [best, bestScore] = [guess, score];
    }
    return best;
  }

  /** Whether guessing `guess` after `previous` can win or narrow the candidates. */
  #splits(guess: bigint, previous: bigint): boolean {
    if (guess === previous) return false;
    if (this.#isCandidate(guess)) return true;
    const twice = guess + previous; // twice the point of equal distance
    return 2n * this.#lo <= twice && twice <= 2n * this.#hi;
  }

  #isCandidate(value: bigint): boolean {
    return this.#lo <= value && value <= this.#hi && !this.#holes.includes(value);
  }

  /**
   * Narrows the candidates by the client's judgement of `guess`, compared with
   * the guess of the previous report.
   *
   * @param guess The guess that was judged.
   * @param decision The client's judgement of it.
   */
  report(guess: number, decision: Decision): void {
    const value = BigInt(guess);
    const previous = this.#last;
    this.#last = value;
    this.#reports++;
    if (this.#lo > this.#hi) return;
    const compared = previous !== undefined && previous !== value;
    switch (decision) {
      case "Correct":
        if (this.#isCandidate(value)) {
          this.#lo = this.#hi = value;
          this.#holes = [];
        } else this.#empty(value, decision, previous);
        return;
      case "Unsure":
        // Equal distances: only a midpoint fits (a repeat or a first guess tells nothing).
        if (compared) {
          const twice = previous + value;
          if (twice % 2n !== 0n) return this.#empty(value, decision, previous);
          this.#lo = this.#max(this.#lo, twice / 2n);
          this.#hi = this.#min(this.#hi, twice / 2n);
        }
        break;
      case "Warmer":
      case "Colder": {
        if (!compared) return this.#empty(value, decision, previous);
        const twice = previous + value;
        if ((value > previous) === (decision === "Warmer")) {
          this.#lo = this.#max(this.#lo, floorHalf(twice) + 1n);
        } else this.#hi = this.#min(this.#hi, ceilHalf(twice) - 1n);
        break;
      }
      default: {
        const unknown: never = decision;
        throw new RangeError(`Unknown decision ${unknown}`);
      }
    }
    // The guess was wrong: drop it, then trim wrong guesses off both ends.
    if (!this.#holes.includes(value)) this.#holes.push(value);
    while (this.#lo <= this.#hi && this.#holes.includes(this.#lo)) this.#lo++;
    while (this.#lo <= this.#hi && this.#holes.includes(this.#hi)) this.#hi--;
    this.#holes = this.#holes.filter((hole) => this.#lo < hole && hole < this.#hi);
    if (this.#lo > this.#hi) this.#empty(value, decision, previous);
  }

  #max(a: bigint, b: bigint): bigint {
    return a > b ? a : b;
  }

  #min(a: bigint, b: bigint): bigint {
    return a < b ? a : b;
  }

  #empty(guess: bigint, decision: Decision, previous: bigint | undefined): void {
    this.#lo = 1n;
    this.#hi = 0n;
    this.#holes = [];
    const after = previous === undefined
      ? "as the first guess"
      : `after ${previous} and the reports before`;
    this.#contradiction = `Inconsistent reports: no secret in [${this.#lower}, ${this.#upper}]` +
      ` fits ${decision} for ${guess} ${after}`;
  }
}
