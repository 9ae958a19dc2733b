// What the person's answers say about their number, worked out the way
// bisect.ts tracks candidates: each answer is a constraint on the secret (an
// interval, and "not this guess" unless it was Correct); the candidates are
// their intersection. Exact in bigint over the whole safe range. Pure, no DOM:
// the page imports it, and tests/page_test.ts checks it against every secret.

/** The constraint of answer `i` of `history` ({guess, decision} items). */
export function constraintOf(history, i) {
  const guess = BigInt(history[i].guess);
  const decision = history[i].decision;
  const previous = i > 0 ? BigInt(history[i - 1].guess) : undefined;
  const compared = previous !== undefined && previous !== guess;
  if (decision === "Correct") return { lo: guess, hi: guess, hole: undefined };
  const twice = compared ? previous + guess : 0n;
  if (decision === "Unsure") {
    if (!compared) return { lo: undefined, hi: undefined, hole: guess };
    // Just as far from both guesses: only their midpoint, if it is whole.
    if (twice % 2n !== 0n) return { lo: 1n, hi: 0n, hole: guess };
    return { lo: twice / 2n, hi: twice / 2n, hole: guess };
  }
  if (!compared) return { lo: 1n, hi: 0n, hole: guess }; // nothing to compare with
  // Closer to the later guess: on its side of the midpoint, strictly.
  if ((guess > previous) === (decision === "Warmer")) {
    return { lo: (twice >> 1n) + 1n, hi: undefined, hole: guess };
  }
  return { lo: undefined, hi: -(-twice >> 1n) - 1n, hole: guess };
}

/** How many numbers of [lower, upper] fit every constraint of `indexes`. */
export function countFitting(lower, upper, constraints, indexes) {
  let lo = lower, hi = upper;
  for (const i of indexes) {
    const c = constraints[i];
    if (c.lo !== undefined && c.lo > lo) lo = c.lo;
    if (c.hi !== undefined && c.hi < hi) hi = c.hi;
  }
  if (lo > hi) return 0n;
  const holes = new Set();
  for (const i of indexes) {
    const hole = constraints[i].hole;
    if (hole !== undefined && hole >= lo && hole <= hi) holes.add(hole);
  }
  return hi - lo + 1n - BigInt(holes.size);
}

/**
 * The numbers still possible after the answers, and when none is, a smallest
 * set of answers that already contradict each other (indexes into history).
 */
export function analyse(lower, upper, history) {
  const constraints = history.map((_, i) => constraintOf(history, i));
  const all = constraints.map((_, i) => i);
  const count = countFitting(lower, upper, constraints, all);
  if (count > 0n) return { count, conflict: [] };
  // The first answer after which nothing fits, then drop every earlier answer
  // the contradiction does not need.
  let last = 0;
  while (countFitting(lower, upper, constraints, all.slice(0, last + 1)) > 0n) last++;
  let kept = all.slice(0, last + 1);
  for (let i = 0; i < last; i++) {
    const without = kept.filter((j) => j !== i);
    if (countFitting(lower, upper, constraints, without) === 0n) kept = without;
  }
  return { count, conflict: kept };
}

/** One answer in words, e.g. "75 is warmer than 50". */
export function describe(history, i) {
  const { guess, decision } = history[i];
  const previous = i > 0 ? history[i - 1].guess : undefined;
  switch (decision) {
    case "Correct":
      return `${guess} is your number`;
    case "Unsure":
      return previous === undefined || previous === guess
        ? `${guess} is not it`
        : `${guess} is just as far as ${previous}`;
    case "Warmer":
      return `${guess} is warmer than ${previous}`;
    case "Colder":
      return `${guess} is colder than ${previous}`;
    default:
      throw new RangeError(`Unknown decision ${decision}`);
  }
}

export function listOf(items) {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
