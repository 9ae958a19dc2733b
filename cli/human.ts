/**
 * `play --human`: a person thinks of a number and the server guesses it. The
 * person's answers are the `REPORT` decisions, read line by line from any byte
 * stream (`Deno.stdin.readable`, a pipe, a test's stream); the output goes
 * through a function, so the whole dialogue can be scripted and tested. No
 * `Deno.*` here.
 *
 * @module
 */

import { BisectStrategy } from "../bisect.ts";
import { LineStream } from "../framing.ts";
import type { Table } from "./demo.ts";
import { type Decision, errorMessage, excerpt, ProtocolError, ServerError } from "../protocol.ts";

/**
 * One line of the person's input, understood: a decision, a request for help,
 * an empty line, or something else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Answer, parseAnswer } from "./human.ts";
 * const answer: Answer = { type: "decision", decision: "Warmer" };
 * assert.deepEqual(parseAnswer("w"), answer);
 * ```
 */
export type Answer =
  | { readonly type: "decision"; readonly decision: Decision }
  | { readonly type: "help" }
  | { readonly type: "empty" }
  | { readonly type: "unknown"; readonly text: string };

const WORDS: Readonly<Record<string, Decision>> = {
  w: "Warmer",
  warmer: "Warmer",
  c: "Colder",
  colder: "Colder",
  u: "Unsure",
  unsure: "Unsure",
  y: "Correct",
  yes: "Correct",
  correct: "Correct",
};

/**
 * Reads one answer: `w`, `c`, `u`, `y` or the words `warmer`, `colder`,
 * `unsure`, `correct` (also `yes`), in any case, with spaces around; `?`,
 * `h` or `help` for help.
 *
 * @param line The line, without its newline.
 * @returns What it means.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAnswer } from "./human.ts";
 * const answer = parseAnswer(" Warmer ");
 * assert.deepEqual(answer, { type: "decision", decision: "Warmer" });
 * ```
 */
export function parseAnswer(line: string): Answer {
  const word = line.trim().toLowerCase();
  if (word === "") return { type: "empty" };
  if (word === "?" || word === "h" || word === "help") return { type: "help" };
  const decision = Object.hasOwn(WORDS, word) ? WORDS[word] : undefined;
  return decision ? { type: "decision", decision } : { type: "unknown", text: line };
}

/**
 * The help shown for `?`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HUMAN_HELP } from "./human.ts";
 * assert.ok(HUMAN_HELP.includes("warmer"));
 * ```
 */
export const HUMAN_HELP: string = `Tell me how my guess compares with my previous one:
  w, warmer   closer to your number than my previous guess
  c, colder   farther from your number than my previous guess
  u, unsure   just as far (always the answer to my first guess)
  y, yes      that is your number (also: correct)
  ?           this help`;

/**
 * Options of {@linkcode playHuman}.
 *
 * @example
 * ```ts
 * import type { HumanOptions } from "./human.ts";
 * const options: HumanOptions = {
 *   lower: 1,
 *   upper: 100,
 *   input: ReadableStream.from([new TextEncoder().encode("u\ny\n")]),
 *   print: () => {},
 * };
 * ```
 */
export interface HumanOptions {
  /** The smallest number the person may think of. */
  readonly lower: number;
  /** The largest number the person may think of. */
  readonly upper: number;
  /** The person's answers, one per line (each at most 1024 bytes). */
  readonly input: ReadableStream<Uint8Array>;
  /** Where the dialogue goes, one line at a time. */
  readonly print: (line: string) => void;
  /** Shows the prompt before each answer is read, e.g. on a terminal. */
  readonly prompt?: (text: string) => void;
  /** Aborting it (Ctrl-C) abandons the game. */
  readonly signal?: AbortSignal;
}

/**
 * How a game with a person ended: the number was found; the answers ran out
 * (end of input) or were interrupted; or no number fits the answers.
 *
 * @example
 * ```ts
 * import type { HumanResult } from "./human.ts";
 * const result: HumanResult = { type: "won", secret: 42, guesses: 7 };
 * ```
 */
export type HumanResult =
  | { readonly type: "won"; readonly secret: number; readonly guesses: number }
  | { readonly type: "abandoned"; readonly interrupted: boolean; readonly guesses: number }
  | { readonly type: "contradiction"; readonly message: string; readonly guesses: number };

const PROMPT = "Warmer, colder, unsure or yes? [w/c/u/y, ? for help] ";

/**
 * Plays one game in which the person keeps the secret: sends `PARAMS`, then
 * for each guess prints `Guess K, M numbers still possible` and `My guess: N`,
 * reads the answer and sends it as `REPORT`, until `Correct`, the end of the
 * input, an abort, or answers no number fits. The count of numbers still
 * possible is worked out here from the answers (the way the `bisect`
 * strategy does), so it is right whatever strategy the server uses. A
 * contradiction is reported as the server's `ERROR Inconsistent reports …`
 * when it says so, else from that count reaching zero. The game is ended
 * with `PARAMS 0 -1` in every case but a closed connection.
 *
 * @param table Where to play: {@linkcode openInProcess} or {@linkcode openRemote}.
 * @param options The range, the input, the output, the abort signal.
 * @returns How the game ended.
 * @throws {ProtocolError} When the server misbehaves or an input line is too long.
 * @throws {ServerError} When the server answers `ERROR` other than for inconsistent reports.
 *
 * @example A person who thinks of 50, over 1..100
 * ```ts
 * import assert from "node:assert/strict";
 * import { playHuman } from "./human.ts";
 * import { openInProcess } from "./demo.ts";
 * await using table = openInProcess({ strategy: "bisect" });
 * const lines: string[] = [];
 * const result = await playHuman(table, {
 *   lower: 1,
 *   upper: 100,
 *   input: ReadableStream.from([new TextEncoder().encode("u\ny\n")]),
 *   print: (line) => lines.push(line),
 * });
 * assert.equal(result.type, "won");
 * assert.equal(result.secret, 50);
 * assert.ok(lines.includes("My guess: 50"));
 * ```
 */
export async function playHuman(table: Table, options: HumanOptions): Promise<HumanResult> {
  const { lower, upper, print, signal } = options;
  if (!Number.isSafeInteger(lower) || !Number.isSafeInteger(upper) || lower > upper) {
    throw new RangeError(`Need safe integers with lower <= upper, got ${lower} and ${upper}`);
  }
  const client = table.client;
  const lines = options.input.pipeThrough(new LineStream()).getReader();
  const onAbort = () => void lines.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  const possible = new BisectStrategy(lower, upper);
  let previous: number | undefined;
  let guesses = 0;
  const ask = async (guess: number): Promise<Decision | undefined> => {
    for (;;) {
      if (signal?.aborted) return undefined;
      options.prompt?.(PROMPT);
      const { value, done } = await lines.read().catch((cause) => {
        if (signal?.aborted) return { value: undefined, done: true as const };
        throw new ProtocolError(`Cannot read the answer: ${errorMessage(cause)}`, { cause });
      });
      if (done) return undefined;
      const answer = parseAnswer(value);
      switch (answer.type) {
        case "decision": {
          const { decision } = answer;
          if ((decision === "Warmer" || decision === "Colder") && guess === previous) {
            print(
              `I guessed ${guess} again, just as far as before: answer u, or y if it is your number`,
            );
          } else if ((decision === "Warmer" || decision === "Colder") && previous === undefined) {
            print("That is my first guess, there is nothing to compare it with: answer u, or y");
          } else return decision;
          break;
        }
        case "help":
          print(HUMAN_HELP);
          break;
        case "empty":
          break;
        case "unknown":
          print(`Please answer w, c, u or y (? for help), not ${excerpt(answer.text)}`);
          break;
        default: {
          const unknown: never = answer;
          throw new RangeError(`Unknown answer ${JSON.stringify(unknown)}`);
        }
      }
    }
  };
  const unfit = `no number from ${lower} to ${upper} fits all your answers`;
  const contradiction = (message: string): HumanResult => {
    print(`Your answers contradict each other: ${message}`);
    return { type: "contradiction", message, guesses };
  };

  print(
    `Think of a whole number from ${lower} to ${upper} and keep it to yourself: I will guess it.`,
  );
  print("After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); ? for help.");
  await client.params(lower, upper);
  try {
    for (;;) {
      let guess: number;
      try {
        // The client checks the reply is a number in [lower, upper] (checkGuess).
        guess = await client.number();
      } catch (error) {
        if (error instanceof ServerError) {
          if (error.message.startsWith("Inconsistent reports")) return contradiction(error.message);
          // E.g. the random strategy's "Range exhausted": no wonder, no number fits.
          if (possible.candidates() === 0n) return contradiction(unfit);
        }
        throw error;
      }
      // The server did not notice (another strategy, or another server): say so ourselves.
      if (possible.candidates() === 0n) return contradiction(unfit);
      guesses++;
      const left = possible.candidates();
      print(`Guess ${guesses}, ${left} number${left === 1n ? "" : "s"} still possible`);
      print(`My guess: ${guess}`);
      const decision = await ask(guess);
      if (decision === undefined) {
        const interrupted = signal?.aborted ?? false;
        const why = interrupted ? "Interrupted" : "No more answers";
        print(`${why}: game abandoned after ${guesses} guess${guesses === 1 ? "" : "es"}`);
        return { type: "abandoned", interrupted, guesses };
      }
      await client.report(decision);
      possible.report(guess, decision);
      previous = guess;
      if (decision === "Correct") {
        // A guess the earlier answers had ruled out (a reflection may be one) cannot be it.
        if (possible.candidates() === 0n) {
          return contradiction(`${guess} does not fit your earlier answers`);
        }
        print(`Got it: ${guess}, in ${guesses} guess${guesses === 1 ? "" : "es"}`);
        return { type: "won", secret: guess, guesses };
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await lines.cancel().catch(() => {});
    if (!client.closed) await client.params(0, -1);
  }
}
