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
import { type Decision, excerpt, judge, ProtocolError } from "../protocol.ts";
import { errorMessage } from "../log.ts";

/**
 * One line of the person's input, understood: a decision, an undo, a request
 * for help, an empty line, or something else.
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
  | { readonly type: "undo" }
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

/** Terminal escape sequences (arrow keys send `ESC [ D`), and other control characters. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const ESCAPES = /\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?|[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * Removes terminal escape sequences (such as the arrow keys' `ESC [ D`) and
 * other control characters from a line the person typed.
 *
 * @param line The line as read.
 * @returns The line without them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stripEscapes } from "./human.ts";
 * assert.equal(stripEscapes("w\x1b[D"), "w");
 * ```
 */
export function stripEscapes(line: string): string {
  return line.replace(ESCAPES, "");
}

/**
 * Reads one answer: `w`, `c`, `u`, `y` or the words `warmer`, `colder`,
 * `unsure`, `correct` (also `yes`), in any case, with spaces around; `z` or
 * `undo` to take back the previous answer; `?`, `h` or `help` for help.
 * Terminal escape sequences (arrow keys) are ignored.
 *
 * @param line The line, without its newline.
 * @returns What it means.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAnswer } from "./human.ts";
 * assert.deepEqual(parseAnswer(" Warmer "), { type: "decision", decision: "Warmer" });
 * ```
 */
export function parseAnswer(line: string): Answer {
  const word = stripEscapes(line).trim().toLowerCase();
  if (word === "") return { type: "empty" };
  if (word === "?" || word === "h" || word === "help") return { type: "help" };
  if (word === "z" || word === "undo") return { type: "undo" };
  const decision = Object.hasOwn(WORDS, word) ? WORDS[word] : undefined;
  return decision ? { type: "decision", decision } : { type: "unknown", text: line };
}

/**
 * One answer the person gave: the guess, the guess before it (none for the
 * first), and the decision.
 *
 * @example
 * ```ts
 * import type { Said } from "./human.ts";
 * const said: Said = { guess: 75, previous: 50, decision: "Colder" };
 * ```
 */
export interface Said {
  /** The guess answered. */
  readonly guess: number;
  /** The guess before it, `undefined` for the first. */
  readonly previous: number | undefined;
  /** The answer. */
  readonly decision: Decision;
}

/**
 * The numbers of [lower, upper] that fit every answer: an interval minus the
 * guesses answered other than `Correct`.
 */
function fits(lower: number, upper: number, said: readonly Said[]): boolean {
  let lo = BigInt(lower), hi = BigInt(upper);
  const holes = new Set<bigint>();
  for (const { guess, previous, decision } of said) {
    const g = BigInt(guess);
    if (decision === "Correct") {
      lo = g > lo ? g : lo;
      hi = g < hi ? g : hi;
      continue;
    }
    holes.add(g);
    if (previous === undefined || previous === guess) continue; // Unsure: nothing to compare
    const sum = g + BigInt(previous); // the midpoint, doubled
    const half = sum >= 0n ? sum / 2n : -((-sum + 1n) / 2n); // floor(sum / 2)
    const closerAbove = g > BigInt(previous); // Warmer means above the midpoint
    if (decision === "Unsure") {
      if (sum % 2n !== 0n) return false;
      lo = half > lo ? half : lo;
      hi = half < hi ? half : hi;
    } else if ((decision === "Warmer") === closerAbove) {
      const from = half + 1n; // s > sum / 2
      lo = from > lo ? from : lo;
    } else {
      const to = sum % 2n === 0n ? half - 1n : half; // s < sum / 2
      hi = to < hi ? to : hi;
    }
  }
  if (lo > hi) return false;
  let inside = 0n;
  for (const hole of holes) if (hole >= lo && hole <= hi) inside++;
  return inside < hi - lo + 1n;
}

/**
 * The earlier answers a new one conflicts with: `undefined` when all fit
 * together, else a smallest set of the earlier answers that, with the new
 * one, no number in [lower, upper] fits (empty when the new answer alone
 * fits no number).
 *
 * @param lower The smallest number the person may think of.
 * @param upper The largest.
 * @param earlier The answers so far, which fit together.
 * @param answer The new answer.
 * @returns The conflicting earlier answers, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { conflicts } from "./human.ts";
 * const earlier = [
 *   { guess: 1, previous: undefined, decision: "Unsure" as const },
 *   { guess: 100, previous: 1, decision: "Warmer" as const }, // above 50
 * ];
 * const answer = { guess: 75, previous: 100, decision: "Colder" as const }; // below 87
 * assert.equal(conflicts(1, 100, earlier, answer), undefined);
 * const wrong = { guess: 75, previous: 100, decision: "Correct" as const };
 * assert.deepEqual(conflicts(1, 100, [...earlier, answer], wrong), [answer]);
 * ```
 */
export function conflicts(
  lower: number,
  upper: number,
  earlier: readonly Said[],
  answer: Said,
): Said[] | undefined {
  if (fits(lower, upper, [...earlier, answer])) return undefined;
  // Drop each earlier answer the contradiction does not need (a deletion filter).
  let needed = [...earlier];
  for (const said of earlier) {
    const without = needed.filter((other) => other !== said);
    if (!fits(lower, upper, [...without, answer])) needed = without;
  }
  return needed;
}

/**
 * An answer in words, e.g. `Warmer for 97 after 57`.
 *
 * @param said The answer.
 * @returns The words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeAnswer } from "./human.ts";
 * assert.equal(describeAnswer({ guess: 97, previous: 57, decision: "Warmer" }), "Warmer for 97 after 57");
 * ```
 */
export function describeAnswer(said: Said): string {
  const { guess, previous, decision } = said;
  const word = decision === "Correct" ? "yes" : decision;
  return previous === undefined ? `${word} for ${guess}` : `${word} for ${guess} after ${previous}`;
}

/**
 * The help shown for `?`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HUMAN_HELP } from "./human.ts";
 * assert.match(HUMAN_HELP, /warmer/);
 * ```
 */
export const HUMAN_HELP: string = `Tell me how my guess compares with my previous one:
  w, warmer   closer to your number than my previous guess
  c, colder   farther from your number than my previous guess
  u, unsure   just as far (always the answer to my first guess)
  y, yes      that is your number (also: correct)
  z, undo     take back your previous answer
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
  /** Where a contradiction is reported (stderr); `print` by default. */
  readonly warn?: (line: string) => void;
  /** Shows the prompt before each answer is read, e.g. on a terminal. */
  readonly prompt?: (text: string) => void;
  /** After a won game, ask "Play again? (y/n)" and play another on `y`. */
  readonly again?: boolean;
  /** Aborting it (Ctrl-C) abandons the game. */
  readonly signal?: AbortSignal;
}

/**
 * How a game with a person ended: the number was found; the answers ran out
 * (end of input) or were interrupted; or the input ended after answers no
 * number fits.
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

/**
 * The prompt for an answer to `guess`, naming the guess to compare it with.
 *
 * @param guess The guess to answer.
 * @param previous The guess before it, `undefined` for the first.
 * @returns The prompt, without a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { promptFor } from "./human.ts";
 * assert.equal(promptFor(97, 57), "Is 97 warmer or colder than 57? (w/c/u/y, z to undo) ");
 * ```
 */
export function promptFor(guess: number, previous: number | undefined): string {
  return previous === undefined
    ? `Is it ${guess}? (y, or u to go on; ? for help) `
    : `Is ${guess} warmer or colder than ${previous}? (w/c/u/y, z to undo) `;
}

const plural = (n: number) => `${n} guess${n === 1 ? "" : "es"}`;

/**
 * Plays games in which the person keeps the secret: sends `PARAMS`, then for
 * each guess prints `Guess K, M numbers still possible` and `My guess: N`,
 * reads the answer (the prompt names the previous guess) and sends it as
 * `REPORT`, until `Correct`, the end of the input or an abort. Each answer is
 * checked against the earlier ones before it is sent: one that no number
 * fits is reported (to `warn`), naming the earlier answers it conflicts with,
 * and not sent, so the person may answer again or undo. `z` takes back the
 * previous answer: the game restarts with `PARAMS` and the earlier answers
 * are sent again (this needs a server that guesses the same numbers again,
 * as `bisect` does). With `again`, a won game is followed by "Play again?
 * (y/n)". The game is ended with `PARAMS 0 -1` in every case but a closed
 * connection.
 *
 * @param table Where to play: {@linkcode openInProcess} or {@linkcode openRemote}.
 * @param options The range, the input, the output, the abort signal.
 * @returns How the last game ended.
 * @throws {ProtocolError} When the server misbehaves or an input line is too long.
 * @throws {ServerError} When the server answers `ERROR`.
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
 * assert.deepEqual(result, { type: "won", secret: 50, guesses: 2 });
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
  const read = async (prompt: string): Promise<string | undefined> => {
    if (signal?.aborted) return undefined;
    options.prompt?.(prompt);
    const { value, done } = await lines.read().catch((cause) => {
      if (signal?.aborted) return { value: undefined, done: true as const };
      throw new ProtocolError(`Cannot read the answer: ${errorMessage(cause)}`, { cause });
    });
    return done ? undefined : value;
  };
  try {
    for (;;) {
      const result = await playOne(client, options, read);
      if (result.type !== "won" || !options.again) return result;
      if (!options.prompt) print("Play again? (y/n)"); // else the prompt says it
      const line = await read("Play again? (y/n) ");
      const word = line === undefined ? "n" : stripEscapes(line).trim().toLowerCase();
      if (word !== "y" && word !== "yes") return result;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await lines.cancel().catch(() => {});
    if (!client.closed) await client.params(0, -1);
  }
}

async function playOne(
  client: Table["client"],
  options: HumanOptions,
  read: (prompt: string) => Promise<string | undefined>,
): Promise<HumanResult> {
  const { lower, upper, print, signal } = options;
  const warn = options.warn ?? print;
  const said: Said[] = [];
  // The client checks the reply is a number in [lower, upper] (checkGuess).
  const nextGuess = (): Promise<number> => client.number();
  /** Starts the game again and sends the answers kept; the server must guess the same. */
  const replay = async (): Promise<number | undefined> => {
    await client.params(lower, upper);
    for (const { guess, decision } of said) {
      const again = await nextGuess();
      if (again !== guess) return undefined;
      await client.report(decision);
    }
    return await nextGuess();
  };
  const announce = (guess: number) => {
    const possible = new BisectStrategy(lower, upper);
    for (const { guess, decision } of said) possible.report(guess, decision);
    const left = possible.candidates();
    print(`Guess ${said.length + 1}, ${left} number${left === 1n ? "" : "s"} still possible`);
    print(`My guess: ${guess}`);
  };

  print(
    `Think of a whole number from ${lower} to ${upper} and keep it to yourself: I will guess it.`,
  );
  print(
    "After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); z to undo, ? for help.",
  );
  await client.params(lower, upper);
  let guess = await nextGuess();
  announce(guess);
  let contradiction: string | undefined;
  for (;;) {
    const previous = said.at(-1)?.guess;
    const line = await read(promptFor(guess, previous));
    if (line === undefined) {
      const guesses = said.length + 1;
      if (contradiction !== undefined && !signal?.aborted) {
        return { type: "contradiction", message: contradiction, guesses };
      }
      const interrupted = signal?.aborted ?? false;
      const why = interrupted ? "Interrupted" : "No more answers";
      print(`${why}: game abandoned after ${plural(guesses)}`);
      return { type: "abandoned", interrupted, guesses };
    }
    const answer = parseAnswer(line);
    switch (answer.type) {
      case "decision": {
        const { decision } = answer;
        if ((decision === "Warmer" || decision === "Colder") && guess === previous) {
          print(
            `I guessed ${guess} again, just as far as before: answer u, or y if it is your number`,
          );
          break;
        }
        if ((decision === "Warmer" || decision === "Colder") && previous === undefined) {
          print("That is my first guess, there is nothing to compare it with: answer u, or y");
          break;
        }
        const now: Said = { guess, previous, decision };
        const against = conflicts(lower, upper, said, now);
        if (against !== undefined) {
          contradiction = against.length === 0
            ? `no number from ${lower} to ${upper} fits ${describeAnswer(now)}`
            : `${describeAnswer(now)} conflicts with ${against.map(describeAnswer).join(", ")}`;
          warn(
            `Your answers contradict each other: ${contradiction}; answer again, or z to undo`,
          );
          break;
        }
        contradiction = undefined;
        await client.report(decision);
        said.push(now);
        if (decision === "Correct") {
          print(`Got it: ${guess}, in ${plural(said.length)}`);
          return { type: "won", secret: guess, guesses: said.length };
        }
        guess = await nextGuess();
        announce(guess);
        break;
      }
      case "undo": {
        if (said.length === 0) {
          print("Nothing to undo: this is my first guess");
          break;
        }
        const taken = said.pop()!;
        contradiction = undefined;
        const again = await replay();
        if (again === undefined) {
          throw new ProtocolError(
            "Cannot undo: the server did not guess the same numbers again (try --strategy bisect)",
          );
        }
        print(`Undone: ${describeAnswer(taken)}`);
        guess = again;
        announce(guess);
        break;
      }
      case "help":
        print(HUMAN_HELP);
        break;
      case "empty":
        break;
      case "unknown":
        print(`Please answer w, c, u or y (z to undo, ? for help), not ${excerpt(answer.text)}`);
        break;
      default: {
        const unknown: never = answer;
        throw new RangeError(`Unknown answer ${JSON.stringify(unknown)}`);
      }
    }
  }
}

/**
 * Options of {@linkcode playGuess}.
 *
 * @example
 * ```ts
 * import type { GuessOptions } from "./human.ts";
 * const options: GuessOptions = {
 *   lower: 1,
 *   upper: 100,
 *   secret: 42,
 *   input: ReadableStream.from([new TextEncoder().encode("42\n")]),
 *   print: () => {},
 * };
 * ```
 */
export interface GuessOptions {
  /** The smallest possible secret. */
  readonly lower: number;
  /** The largest possible secret. */
  readonly upper: number;
  /** The computer's secret, in [lower, upper]. */
  readonly secret: number;
  /** The person's guesses, one per line (each at most 1024 bytes). */
  readonly input: ReadableStream<Uint8Array>;
  /** Where the dialogue goes, one line at a time. */
  readonly print: (line: string) => void;
  /** Shows the prompt before each guess is read, e.g. on a terminal. */
  readonly prompt?: (text: string) => void;
  /** Aborting it (Ctrl-C) abandons the game. */
  readonly signal?: AbortSignal;
}

/**
 * How a game in which the person guesses ended.
 *
 * @example
 * ```ts
 * import type { GuessResult } from "./human.ts";
 * const result: GuessResult = { type: "won", guesses: 7 };
 * ```
 */
export type GuessResult =
  | { readonly type: "won"; readonly guesses: number }
  | { readonly type: "abandoned"; readonly interrupted: boolean; readonly guesses: number };

/**
 * `play --guess`: the computer keeps `secret` and the person guesses; each
 * guess is judged with the protocol's {@linkcode judge} against the previous
 * one and answered `Warmer`, `Colder`, `Unsure` or `Correct`. In process, no
 * server, no permissions.
 *
 * @param options The range, the secret, the input, the output.
 * @returns How the game ended.
 * @throws {ProtocolError} When an input line is too long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { playGuess } from "./human.ts";
 * const lines: string[] = [];
 * const result = await playGuess({
 *   lower: 1,
 *   upper: 100,
 *   secret: 60,
 *   input: ReadableStream.from([new TextEncoder().encode("50\n70\n60\n")]),
 *   print: (line) => lines.push(line),
 * });
 * assert.deepEqual(result, { type: "won", guesses: 3 });
 * assert.deepEqual(lines.slice(1), ["50: Unsure", "70: Unsure", "60: Correct, in 3 guesses"]);
 * ```
 */
export async function playGuess(options: GuessOptions): Promise<GuessResult> {
  const { lower, upper, secret, print, signal } = options;
  if (!(lower <= secret && secret <= upper) || !Number.isSafeInteger(secret)) {
    throw new RangeError(`Need lower <= secret <= upper, got ${lower}, ${secret} and ${upper}`);
  }
  const lines = options.input.pipeThrough(new LineStream()).getReader();
  const onAbort = () => void lines.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let previous: bigint | undefined;
  let guesses = 0;
  try {
    print(`I am thinking of a whole number from ${lower} to ${upper}: guess it.`);
    for (;;) {
      if (signal?.aborted) break;
      options.prompt?.("Your guess: ");
      const { value, done } = await lines.read().catch((cause) => {
        if (signal?.aborted) return { value: undefined, done: true as const };
        throw new ProtocolError(`Cannot read the guess: ${errorMessage(cause)}`, { cause });
      });
      if (done) break;
      const text = stripEscapes(value).trim();
      if (text === "") continue;
      const guess = /^-?\d{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(guess) || guess < lower || guess > upper) {
        print(`Please guess a whole number from ${lower} to ${upper}, not ${excerpt(text)}`);
        continue;
      }
      guesses++;
      const { decision, distance } = judge(secret, guess, previous);
      previous = distance;
      if (decision === "Correct") {
        print(`${guess}: Correct, in ${plural(guesses)}`);
        return { type: "won", guesses };
      }
      print(`${guess}: ${decision}`);
    }
    const interrupted = signal?.aborted ?? false;
    print(
      `${interrupted ? "Interrupted" : "No more guesses"}: the number was ${secret}` +
        ` (${plural(guesses)})`,
    );
    return { type: "abandoned", interrupted, guesses };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await lines.cancel().catch(() => {});
  }
}
