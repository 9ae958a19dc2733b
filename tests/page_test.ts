// The page's own arithmetic (web/candidates.js, no DOM) against the truth:
// every secret of the range, judged by the client's rule.

import assert from "node:assert/strict";
import fc from "fast-check";
import { BisectStrategy } from "../bisect.ts";
import { type Decision, DECISIONS, judge } from "../protocol.ts";
import { analyse, constraintOf, countFitting, describe } from "../web/candidates.js";

interface Answer {
  guess: number;
  decision: Decision;
}

/** The secrets of [lower, upper] for which every answer is what the client's rule says. */
function fitting(lower: number, upper: number, history: Answer[]): number {
  let count = 0;
  for (let secret = lower; secret <= upper; secret++) {
    let previous: bigint | undefined;
    const fits = history.every(({ guess, decision }) => {
      const verdict = judge(secret, guess, previous);
      previous = verdict.distance;
      return verdict.decision === decision;
    });
    if (fits) count++;
  }
  return count;
}

/** Answers the page lets through: no Warmer or Colder without a different previous guess. */
const histories = fc.integer({ min: -5, max: 20 }).chain((lower) =>
  fc.integer({ min: lower, max: lower + 40 }).chain((upper) =>
    fc.tuple(
      fc.constant(lower),
      fc.constant(upper),
      fc.array(
        fc.record({
          guess: fc.integer({ min: lower, max: upper }),
          decision: fc.constantFrom(...DECISIONS.filter((d) => d !== "Correct")),
        }),
        { maxLength: 8 },
      ),
      fc.boolean(),
    )
  )
).map(([lower, upper, answers, correct]) => {
  const history: Answer[] = [];
  for (const answer of answers) {
    const previous = history[history.length - 1]?.guess;
    const comparable = previous !== undefined && previous !== answer.guess;
    const decision = !comparable && answer.decision !== "Unsure" ? "Unsure" : answer.decision;
    history.push({ guess: answer.guess, decision });
  }
  if (correct && history.length > 0) history[history.length - 1].decision = "Correct";
  return { lower, upper, history };
});

Deno.test("candidates.js counts exactly the secrets that fit every answer", () => {
  fc.assert(
    fc.property(histories, ({ lower, upper, history }) => {
      const { count } = analyse(BigInt(lower), BigInt(upper), history);
      assert.equal(count, BigInt(fitting(lower, upper, history)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("candidates.js agrees with the bisect strategy's own count", () => {
  fc.assert(
    fc.property(histories, ({ lower, upper, history }) => {
      const strategy = new BisectStrategy(lower, upper);
      for (const { guess, decision } of history) strategy.report(guess, decision);
      assert.equal(analyse(BigInt(lower), BigInt(upper), history).count, strategy.candidates());
    }),
    { numRuns: 2000 },
  );
});

Deno.test("candidates.js names a smallest set of answers that contradict each other", () => {
  fc.assert(
    fc.property(histories, ({ lower, upper, history }) => {
      const lo = BigInt(lower), hi = BigInt(upper);
      const { count, conflict } = analyse(lo, hi, history);
      if (count > 0n) return assert.deepEqual(conflict, []);
      const constraints = history.map((_, i) => constraintOf(history, i));
      assert.ok(conflict.length > 0);
      assert.equal(countFitting(lo, hi, constraints, conflict), 0n, "they contradict");
      for (const drop of conflict) {
        const rest = conflict.filter((i: number) => i !== drop);
        assert.ok(countFitting(lo, hi, constraints, rest) > 0n, "each one is needed");
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("candidates.js words the answers of a contradiction", () => {
  const history: Answer[] = [
    { guess: 1, decision: "Unsure" },
    { guess: 50, decision: "Warmer" },
    { guess: 76, decision: "Colder" },
    { guess: 30, decision: "Colder" },
  ];
  // 50 warmer than 1: 26..100; 76 colder than 50: ..62; 30 colder than 76: 54..
  assert.equal(analyse(1n, 100n, history).count, 9n);
  history.push({ guess: 55, decision: "Colder" }); // 55 colder than 30: ..42, against 54..
  const { conflict } = analyse(1n, 100n, history);
  assert.deepEqual(conflict, [3, 4]);
  assert.equal(describe(history, 3), "30 is colder than 76");
  assert.equal(describe(history, 4), "55 is colder than 30");
  assert.equal(describe(history, 0), "1 is not it");
});
