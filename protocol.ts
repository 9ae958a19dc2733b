/**
 * The guess protocol, sans I/O: commands and replies with their parsers and
 * formatters, the client's judge, the server's game state machine and a
 * byte-level server connection that turns received bytes into reply text.
 * Nothing here touches a socket or `Deno.*`; `server.ts` and `client.ts` only
 * move bytes. The wire format is described in `PROTOCOL.md`.
 *
 * @module
 */

import {
  InvalidUtf8Error,
  LineSplitter,
  LineTooLongError,
  MAX_LINE_BYTES,
  tryDecodeLine,
} from "./framing.ts";
import { createStrategy, type StrategyName } from "./strategies.ts";
import type { Rng, Strategy } from "./strategy.ts";
import { StrategyError } from "./strategy.ts";

/**
 * The four judgements a client may report, in wire spelling.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DECISIONS } from "./protocol.ts";
 * assert.equal(DECISIONS.length, 4);
 * ```
 */
export const DECISIONS = ["Warmer", "Colder", "Unsure", "Correct"] as const;

/**
 * A client's judgement of a guess.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Decision, isDecision } from "./protocol.ts";
 * const decision: Decision = "Warmer";
 * assert.ok(isDecision(decision));
 * ```
 */
export type Decision = typeof DECISIONS[number];

/**
 * A command, client to server: `PARAMS lower upper`, `NUMBER` or
 * `REPORT decision`. `PARAMS` with `lower > upper` (the seed sends
 * `PARAMS 0 -1`) ends the game.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Command, formatCommand, parseCommand } from "./protocol.ts";
 * const start: Command = { type: "params", lower: 1, upper: 5 };
 * assert.deepEqual(parseCommand(formatCommand(start).trimEnd()), start);
 * ```
 */
export type Command =
  | { readonly type: "params"; readonly lower: number; readonly upper: number }
  | { readonly type: "number" }
  | { readonly type: "report"; readonly decision: Decision };

/**
 * A reply, server to client: only `NUMBER` and bad lines get one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatReply, parseReply, type Reply } from "./protocol.ts";
 * const reply: Reply = { type: "number", value: 4 };
 * assert.deepEqual(parseReply(formatReply(reply).trimEnd()), reply);
 * ```
 */
export type Reply =
  | { readonly type: "number"; readonly value: number }
  | { readonly type: "error"; readonly message: string };

/**
 * The peer broke the protocol: a malformed line, a reply out of range, or a
 * hang-up in the middle of a game. Raised on both sides.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommand, ProtocolError } from "./protocol.ts";
 * assert.throws(() => parseCommand("HELLO"), ProtocolError);
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Makes a protocol error.
   *
   * @param message What was wrong, starting uppercase, no trailing period.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * The server answered `ERROR <message>`; `message` is the server's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerError } from "./protocol.ts";
 * const error = new ServerError("No game in progress");
 * assert.equal(error.message, "No game in progress");
 * ```
 */
export class ServerError extends Error {
  /**
   * Makes a server error.
   *
   * @param message The server's message.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServerError";
  }
}

/**
 * Quotes at most `max` characters of untrusted text for an error message:
 * printable ASCII stays, everything else is escaped, so the result never
 * holds CR, LF or other control bytes.
 *
 * @param text The untrusted text.
 * @param max How many characters to keep.
 * @default {24} max
 * @returns The quoted excerpt.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { excerpt } from "./protocol.ts";
 * assert.equal(excerpt("A\r\nB"), '"A\\r\\nB"');
 * ```
 */
export function excerpt(text: string, max = 24): string {
  const cut = text.length > max;
  const kept = cut ? text.slice(0, max) : text;
  const quoted = JSON.stringify(kept).replace(
    /[^\x20-\x7e]/gu,
    (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
  return cut ? `${quoted}...` : quoted;
}

const INTEGER = /^-?[0-9]+$/;

/**
 * Parses a strict decimal integer (`-?[0-9]+`) within the safe integer range.
 *
 * @param text The digits.
 * @param what What the number is, for the error message.
 * @returns The integer.
 * @throws {ProtocolError} When `text` is not such an integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseInteger } from "./protocol.ts";
 * assert.equal(parseInteger("-12", "Bound"), -12);
 * ```
 */
export function parseInteger(text: string, what: string): number {
  const value = integerOrError(text, what);
  if (typeof value === "string") throw new ProtocolError(value);
  return value;
}

/** The integer, or the message saying why `text` is not one (no exception). */
function integerOrError(text: string, what: string): number | string {
  if (!INTEGER.test(text)) return `${what} is not a decimal integer: ${excerpt(text)}`;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    return `${what} is outside [${Number.MIN_SAFE_INTEGER}, ${Number.MAX_SAFE_INTEGER}]: ${
      excerpt(text)
    }`;
  }
  return value === 0 ? 0 : value; // no -0
}

/** `undefined` when `parts` has the arguments `usage` names, else the message. */
function argumentsError(parts: string[], usage: string): string | undefined {
  const want = usage.split(" ").length;
  if (parts.length === want) return undefined;
  const got = parts.length - 1;
  return `${parts[0]} takes ${want - 1} argument${want === 2 ? "" : "s"} (${usage}), got ${got}`;
}

/**
 * A parsed command line: the {@linkcode Command}, or `invalid` with the
 * message its `ERROR` reply carries.
 *
 * @example
 * ```ts
 * import type { ParsedCommand } from "./protocol.ts";
 * const bad: ParsedCommand = { type: "invalid", message: "Empty line" };
 * ```
 */
export type ParsedCommand = Command | { readonly type: "invalid"; readonly message: string };

/**
 * Parses one command line like {@linkcode parseCommand}, returning a bad line
 * as a value instead of throwing: the server's path for every line.
 *
 * @param line The line, without its newline.
 * @returns The command, or `{ type: "invalid", message }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tryParseCommand } from "./protocol.ts";
 * assert.deepEqual(tryParseCommand("NUMBER"), { type: "number" });
 * assert.equal(tryParseCommand("HELLO").type, "invalid");
 * ```
 */
export function tryParseCommand(line: string): ParsedCommand {
  if (line === NUMBER_LINE) return NUMBER;
  const parts = line.split(" ");
  switch (parts[0]) {
    case "PARAMS": {
      const wrong = argumentsError(parts, "PARAMS lower upper");
      if (wrong !== undefined) return invalid(wrong);
      const lower = integerOrError(parts[1], "Lower bound");
      if (typeof lower === "string") return invalid(lower);
      const upper = integerOrError(parts[2], "Upper bound");
      if (typeof upper === "string") return invalid(upper);
      return { type: "params", lower, upper };
    }
    case NUMBER_LINE:
      return invalid(argumentsError(parts, NUMBER_LINE)!);
    case "REPORT": {
      const wrong = argumentsError(parts, "REPORT decision");
      if (wrong !== undefined) return invalid(wrong);
      const decision = parts[1];
      if (!isDecision(decision)) {
        return invalid(
          `Unknown decision ${excerpt(decision)}: expected Warmer, Colder, Unsure or Correct`,
        );
      }
      return { type: "report", decision };
    }
    default:
      if (line === "") return invalid("Empty line: expected PARAMS, NUMBER or REPORT");
      return invalid(`Unknown command ${excerpt(parts[0])}: expected PARAMS, NUMBER or REPORT`);
  }
}

function invalid(message: string): ParsedCommand {
  return { type: "invalid", message };
}

/**
 * Parses one command line (without its newline). Fields are separated by
 * exactly one space, as the seed's `split(' ')` expects.
 *
 * @param line The line.
 * @returns The command.
 * @throws {ProtocolError} When the line is not a valid command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommand } from "./protocol.ts";
 * const command = parseCommand("PARAMS 1 5");
 * assert.deepEqual(command, { type: "params", lower: 1, upper: 5 });
 * ```
 */
export function parseCommand(line: string): Command {
  const parsed = tryParseCommand(line);
  if (parsed.type === "invalid") throw new ProtocolError(parsed.message);
  return parsed;
}

/** The one spelling of `NUMBER`, most of the traffic; the core also matches it on the bytes. */
const NUMBER_LINE = "NUMBER";
const NUMBER: Command = Object.freeze({ type: "number" });
/** What `NUMBER` and `REPORT` answer with no game running. */
const NO_GAME: Extract<Reply, { type: "error" }> = Object.freeze({
  type: "error",
  message: "No game in progress: send PARAMS lower upper first",
});
/** The message of an invalid-UTF-8 line, as {@linkcode InvalidUtf8Error} has it. */
const INVALID_UTF8 = new InvalidUtf8Error().message;

/**
 * Tells whether a string is one of the four decisions.
 *
 * @param text The text.
 * @returns Whether it is a {@linkcode Decision}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDecision } from "./protocol.ts";
 * assert.ok(isDecision("Colder"));
 * assert.ok(!isDecision("colder"));
 * ```
 */
export function isDecision(text: string): text is Decision {
  return (DECISIONS as readonly string[]).includes(text);
}

/**
 * Formats a command as its wire text, newline included.
 *
 * @param command The command.
 * @returns The line, ending in `\n`.
 * @throws {RangeError} When a bound is not a safe integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCommand } from "./protocol.ts";
 * assert.equal(formatCommand({ type: "params", lower: 0, upper: -1 }), "PARAMS 0 -1\n");
 * ```
 */
export function formatCommand(command: Command): string {
  switch (command.type) {
    case "params":
      checkSafe(command.lower, "Lower bound");
      checkSafe(command.upper, "Upper bound");
      return `PARAMS ${command.lower} ${command.upper}\n`;
    case "number":
      return "NUMBER\n";
    case "report":
      if (!isDecision(command.decision)) {
        throw new RangeError(`Unknown decision ${excerpt(String(command.decision))}`);
      }
      return `REPORT ${command.decision}\n`;
    default: {
      const unknown: never = command;
      throw new RangeError(`Unknown command ${excerpt(JSON.stringify(unknown))}`);
    }
  }
}

function checkSafe(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${what} must be a safe integer, got ${value}`);
  }
}

/**
 * Parses one reply line (without its newline): a decimal integer, or
 * `ERROR <message>`.
 *
 * @param line The line.
 * @returns The reply.
 * @throws {ProtocolError} When the line is neither.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseReply } from "./protocol.ts";
 * const reply = parseReply("ERROR No game in progress");
 * assert.equal(reply.type, "error");
 * ```
 */
export function parseReply(line: string): Reply {
  if (line.startsWith("ERROR ")) return { type: "error", message: line.slice(6) };
  return { type: "number", value: parseInteger(line, "Reply") };
}

/**
 * Formats a reply as its wire text, newline included. Control characters in an
 * error message become spaces, so a reply is always exactly one line.
 *
 * @param reply The reply.
 * @returns The line, ending in `\n`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatReply } from "./protocol.ts";
 * assert.equal(formatReply({ type: "number", value: 4 }), "4\n");
 * ```
 */
export function formatReply(reply: Reply): string {
  switch (reply.type) {
    case "number":
      return `${reply.value}\n`;
    case "error":
      // deno-lint-ignore no-control-regex -- control bytes are exactly what must go
      return `ERROR ${reply.message.replace(/[\x00-\x1f\x7f]/g, " ")}\n`;
    default: {
      const unknown: never = reply;
      throw new RangeError(`Unknown reply ${excerpt(JSON.stringify(unknown))}`);
    }
  }
}

/**
 * The client's rule for one guess: with d = |guess - secret|, `Correct` when
 * d = 0, `Unsure` for a game's first guess, `Warmer` when d shrank, `Colder`
 * when it grew, `Unsure` when it stayed. Distances are exact (bigint) over
 * the whole safe-integer range.
 *
 * @param secret The client's secret.
 * @param guess The server's guess.
 * @param previous The distance of the previous guess, `undefined` for the first.
 * @returns The decision and this guess's distance, to pass as `previous` next time.
 *
 * @example The seed's demo: secret 3, guesses 4, 1, 5, 3
 * ```ts
 * import assert from "node:assert/strict";
 * import { judge } from "./protocol.ts";
 * let previous: bigint | undefined;
 * const decisions = [4, 1, 5, 3].map((guess) => {
 *   const verdict = judge(3, guess, previous);
 *   previous = verdict.distance;
 *   return verdict.decision;
 * });
 * assert.equal(decisions.join(), "Unsure,Colder,Unsure,Correct");
 * ```
 */
export function judge(
  secret: number,
  guess: number,
  previous: bigint | undefined,
): { decision: Decision; distance: bigint } {
  const difference = BigInt(guess) - BigInt(secret);
  const distance = difference < 0n ? -difference : difference;
  let decision: Decision;
  if (distance === 0n) decision = "Correct";
  else if (previous === undefined || distance === previous) decision = "Unsure";
  else decision = distance < previous ? "Warmer" : "Colder";
  return { decision, distance };
}

/**
 * What a game session did, for logs: a game started or ended, or a guess was
 * judged (the seed prints `Server: 4 is Unsure` for these).
 *
 * @example
 * ```ts
 * import type { GameEvent } from "./protocol.ts";
 * const event: GameEvent = { type: "report", guess: 4, decision: "Unsure" };
 * ```
 */
export type GameEvent =
  | { readonly type: "start"; readonly lower: number; readonly upper: number }
  | { readonly type: "report"; readonly guess: number; readonly decision: Decision }
  | { readonly type: "end"; readonly guesses: number };

/**
 * Options of a {@linkcode Session}.
 *
 * @example
 * ```ts
 * import { Rng } from "./strategy.ts";
 * import type { SessionOptions } from "./protocol.ts";
 * const options: SessionOptions = { strategy: "random", rng: new Rng(1) };
 * ```
 */
export interface SessionOptions {
  /**
   * How the server guesses.
   * @default {"random"}
   */
  strategy?: StrategyName;
  /**
   * The random source: the caller seeds it (this module has no entropy of its
   * own), so a seed replays the same games.
   */
  rng: Rng;
  /** Called for each {@linkcode GameEvent}, synchronously. */
  onEvent?: (event: GameEvent) => void;
}

interface Game {
  readonly lower: number;
  readonly upper: number;
  readonly strategy: Strategy;
  guesses: number;
  last: number | undefined;
  secret: number | undefined;
}

/**
 * The server's game state machine for one connection: feed it commands, get
 * the reply each one needs (`NUMBER` and errors only). `PARAMS lower upper`
 * starts a game (replacing any running one); `PARAMS` with lower > upper ends
 * it; after `REPORT Correct` every `NUMBER` answers the secret.
 *
 * @example The seed's first game
 * ```ts
 * import assert from "node:assert/strict";
 * import { Session } from "./protocol.ts";
 * import { Rng } from "./strategy.ts";
 * const session = new Session({ rng: new Rng(1) });
 * session.handle({ type: "params", lower: 1, upper: 5 });
 * const reply = session.handle({ type: "number" });
 * assert.ok(reply?.type === "number" && reply.value >= 1 && reply.value <= 5);
 * ```
 */
export class Session {
  readonly #strategy: StrategyName;
  readonly #rng: Rng;
  readonly #onEvent: ((event: GameEvent) => void) | undefined;
  #game: Game | undefined;

  /**
   * Makes a session with no game running.
   *
   * @param options How to guess, and where to report events.
   */
  constructor(options: SessionOptions) {
    this.#strategy = options.strategy ?? "random";
    this.#rng = options.rng;
    this.#onEvent = options.onEvent;
  }

  /** Whether a game is running (between `PARAMS` and its end). */
  get inGame(): boolean {
    return this.#game !== undefined;
  }

  /** How many guesses the running game has made (0 without a game); final once it is `Correct`. */
  get guesses(): number {
    return this.#game?.guesses ?? 0;
  }

  /**
   * Applies one command.
   *
   * @param command The command.
   * @returns The reply to send, or `undefined` when the command gets none.
   */
  handle(command: Command): Reply | undefined {
    switch (command.type) {
      case "params":
        return this.#params(command.lower, command.upper);
      case "number":
        return this.#number();
      case "report":
        return this.#report(command.decision);
      default: {
        const unknown: never = command;
        throw new RangeError(`Unknown command ${excerpt(JSON.stringify(unknown))}`);
      }
    }
  }

  #params(lower: number, upper: number): undefined {
    const ended = this.#game;
    this.#game = undefined;
    if (ended) this.#onEvent?.({ type: "end", guesses: ended.guesses });
    if (lower > upper) return;
    const strategy = createStrategy(this.#strategy, lower, upper, this.#rng);
    this.#game = { lower, upper, strategy, guesses: 0, last: undefined, secret: undefined };
    this.#onEvent?.({ type: "start", lower, upper });
  }

  #number(): Reply {
    const game = this.#game;
    if (!game) return NO_GAME;
    if (game.secret !== undefined) return { type: "number", value: game.secret };
    let value: number;
    try {
      value = game.strategy.next();
    } catch (error) {
      if (error instanceof StrategyError) return { type: "error", message: error.message };
      throw error;
    }
    game.last = value;
    game.guesses++;
    return { type: "number", value };
  }

  #report(decision: Decision): Reply | undefined {
    const game = this.#game;
    if (!game) return NO_GAME;
    const guess = game.last;
    if (guess === undefined) {
      return { type: "error", message: "No guess to judge: send NUMBER first" };
    }
    if (decision === "Correct") game.secret = guess;
    game.strategy.report(guess, decision);
    this.#onEvent?.({ type: "report", guess, decision });
  }
}

/**
 * Options of a {@linkcode ServerConnection}.
 *
 * @example
 * ```ts
 * import type { ServerConnectionOptions } from "./protocol.ts";
 * import { Rng } from "./strategy.ts";
 * const options: ServerConnectionOptions = { maxLineBytes: 256, rng: new Rng(1) };
 * ```
 */
export interface ServerConnectionOptions extends SessionOptions {
  /**
   * The longest command line, in bytes.
   * @default {MAX_LINE_BYTES}
   */
  maxLineBytes?: number;
}

/**
 * The most lines one {@linkcode ServerConnection.feed} handles; the rest of
 * the bytes wait for the next turn, so no connection holds the event loop.
 */
export const MAX_LINES_PER_TURN = 256;
/**
 * The most reply bytes one turn produces (each is written before the next
 * turn): a client that sends bad lines and never reads holds at most this
 * much of unwritten replies in the server, plus one reply.
 */
export const MAX_OUTPUT_PER_TURN = 16 * 1024;
/** After this many `ERROR` replies in a row with no good line between, the connection closes. */
export const MAX_CONSECUTIVE_ERRORS = 1000;

/**
 * Why the core wants the connection closed after its output is written.
 *
 * @example
 * ```ts
 * import type { CloseReason } from "./protocol.ts";
 * const reason: CloseReason = "line_too_long";
 * ```
 */
export type CloseReason = "line_too_long" | "too_many_errors";

/**
 * What one turn of a {@linkcode ServerConnection} asks of the I/O shell:
 * write `output`, then close when `close` is set; when `more` is set, bytes
 * of this chunk are still waiting: yield to the event loop, then call
 * {@linkcode ServerConnection.feed} again (with no new bytes) before reading.
 * `lines` says how many complete lines were handled (activity, for the idle timer).
 *
 * @example
 * ```ts
 * import type { Turn } from "./protocol.ts";
 * const turn: Turn = { output: "4\n", lines: 1, more: false, close: undefined };
 * ```
 */
export interface Turn {
  /** The replies to write, concatenated (`""` when none). */
  readonly output: string;
  /** How many complete lines this turn handled. */
  readonly lines: number;
  /** Whether received bytes are left for the next turn. */
  readonly more: boolean;
  /** Set when the connection must close once `output` is written. */
  readonly close: CloseReason | undefined;
}

/**
 * A {@linkcode Turn} with its replies as bytes, what
 * {@linkcode ServerConnection.feedBytes} returns to a shell that writes them
 * to a socket as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerConnection } from "./protocol.ts";
 * import { Rng } from "./strategy.ts";
 * const connection = new ServerConnection({ rng: new Rng(1) });
 * const turn = connection.feedBytes(new TextEncoder().encode("PARAMS 1 1\nNUMBER\n"));
 * assert.equal(new TextDecoder().decode(turn.output), "1\n");
 * assert.equal(turn.errors, 0);
 * ```
 */
export interface ByteTurn {
  /**
   * The replies to write, concatenated (empty when none): a view of the
   * connection's own buffer, valid (like the turn itself, which the
   * connection reuses) until its next `feed`, `feedBytes` or `end`.
   */
  readonly output: Uint8Array;
  /** How many `ERROR` lines `output` holds. */
  readonly errors: number;
  /** How many complete lines this turn handled. */
  readonly lines: number;
  /** Whether received bytes are left for the next turn. */
  readonly more: boolean;
  /** Set when the connection must close once `output` is written. */
  readonly close: CloseReason | undefined;
}

const EMPTY = new Uint8Array(0);
const LF = 0x0a;
const SPACE = 0x20;
const MINUS = 0x2d;
const ZERO = 0x30;
/** `NUMBER` as bytes, from its one spelling. */
const NUMBER_BYTES = asciiBytes(NUMBER_LINE);
const REPORT_PREFIX = asciiBytes("REPORT ");
const PARAMS_PREFIX = asciiBytes("PARAMS ");
/** The four `REPORT` commands, one object each, and their decisions' bytes. */
const REPORTS: readonly { readonly bytes: Uint8Array; readonly command: Command }[] = DECISIONS
  .map((decision) => ({
    bytes: asciiBytes(decision),
    command: Object.freeze({ type: "report", decision }),
  }));
/**
 * The most digits a bound may have to be read on the bytes: 15 digits are
 * below 2^53, so such a number is always a safe integer. Longer ones take
 * the general parser, which also words their errors.
 */
const FAST_DIGITS = 15;
/** An output buffer above this size is dropped after a turn that used under a quarter of it. */
const KEPT_OUTPUT_BYTES = 4 * 1024;

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * One server connection, sans I/O: bytes in, reply text out. The complete
 * lines of a chunk are handled in order and their replies returned together,
 * so the I/O layer writes them in one go (pipelining for free), but one turn
 * handles at most {@linkcode MAX_LINES_PER_TURN} lines or
 * {@linkcode MAX_OUTPUT_PER_TURN} bytes of replies: the rest waits (`more`).
 * A bad line gets one `ERROR` line and the connection goes on; a line over
 * the limit, or {@linkcode MAX_CONSECUTIVE_ERRORS} bad lines in a row, get an
 * `ERROR` line and `close`.
 *
 * @example Two pipelined commands in one chunk
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerConnection } from "./protocol.ts";
 * import { Rng } from "./strategy.ts";
 * const connection = new ServerConnection({ rng: new Rng(1) });
 * const turn = connection.feed(new TextEncoder().encode("NUMBER\nFOO\n"));
 * assert.ok(turn.output.startsWith("ERROR No game in progress"));
 * assert.equal(turn.output.split("\n").length, 3);
 * assert.equal(turn.lines, 2);
 * ```
 */
export class ServerConnection {
  readonly #splitter: LineSplitter;
  readonly #session: Session;
  /** This turn's replies, as bytes: `#out[0, #outLength)`. */
  #out: Uint8Array = EMPTY;
  #outLength = 0;
  /** How many `ERROR` lines this turn's replies hold. */
  #outErrors = 0;
  /** The last view of `#out` handed out: the next turn of the same length reuses it. */
  #view: Uint8Array = EMPTY;
  /** What {@linkcode ServerConnection.feedBytes} returns, filled in anew each turn. */
  readonly #turn: { -readonly [K in keyof ByteTurn]: ByteTurn[K] } = {
    output: EMPTY,
    errors: 0,
    lines: 0,
    more: false,
    close: undefined,
  };
  #lines = 0;
  #turnLines = 0;
  #errors = 0;
  #closed = false;
  #close: CloseReason | undefined;
  /** Bytes of a chunk left over when a turn stopped early. */
  #pending: Uint8Array | undefined;
  readonly #onLine = (bytes: Uint8Array, start: number, end: number): boolean => {
    this.#turnLines++;
    this.#handleLine(bytes, start, end);
    return this.#turnLines < MAX_LINES_PER_TURN && this.#outLength < MAX_OUTPUT_PER_TURN &&
      this.#close === undefined;
  };

  /**
   * Makes a connection with no game running.
   *
   * @param options The line limit and the session's options.
   */
  constructor(options: ServerConnectionOptions) {
    this.#splitter = new LineSplitter(options.maxLineBytes ?? MAX_LINE_BYTES);
    this.#session = new Session(options);
  }

  /** True once the connection must close (a line over the limit, too many errors, the end). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a game is running. */
  get inGame(): boolean {
    return this.#session.inGame;
  }

  /** How many guesses the running game has made (0 without a game). */
  get guesses(): number {
    return this.#session.guesses;
  }

  /** How many complete lines were handled so far. */
  get lines(): number {
    return this.#lines;
  }

  /** How many bytes of an unfinished line are held (at most the line limit). */
  get buffered(): number {
    return this.#splitter.buffered;
  }

  /**
   * One turn: handles received bytes (after any left from the last turn),
   * within the per-turn bounds.
   *
   * @param chunk The bytes received; empty to go on with what is left.
   * @returns What the shell must do: {@linkcode Turn}.
   */
  feed(chunk: Uint8Array): Turn {
    const turn = this.feedBytes(chunk);
    return { output: textOf(turn.output), lines: turn.lines, more: turn.more, close: turn.close };
  }

  /**
   * One turn like {@linkcode ServerConnection.feed}, with the replies as
   * bytes in the connection's own buffer, for a shell that writes them as
   * they are. The turn is the connection's own object, filled in anew by
   * every call: it and its view are valid until the next `feed`,
   * `feedBytes` or `end`.
   *
   * @param chunk The bytes received; empty to go on with what is left.
   * @param length How many bytes of `chunk` were received, from its start
   * (a shell's read buffer, without a view of it per read).
   * @default {chunk.length} length
   * @returns What the shell must do: {@linkcode ByteTurn}.
   */
  feedBytes(chunk: Uint8Array, length: number = chunk.length): ByteTurn {
    this.#startOutput();
    if (this.#closed) return this.#result(0, false);
    let bytes = chunk;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      if (length === 0) bytes = pending;
      else {
        bytes = new Uint8Array(pending.length + length);
        bytes.set(pending);
        bytes.set(chunk.subarray(0, length), pending.length);
      }
      length = bytes.length;
    }
    this.#turnLines = 0;
    try {
      const taken = this.#splitter.push(bytes, this.#onLine, length);
      // Copied: the shell reuses its read buffer.
      if (taken < length && this.#close === undefined) {
        this.#pending = bytes.slice(taken, length);
      }
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      this.#close = "line_too_long";
      this.#reply({ type: "error", message: `${error.message}, closing` });
    }
    if (this.#close !== undefined) this.#closed = true;
    const lines = this.#turnLines;
    this.#lines += lines;
    return this.#result(lines, this.#pending !== undefined);
  }

  /** The turn's result: one object per connection, like its output buffer, so a turn allocates nothing. */
  #result(lines: number, more: boolean): ByteTurn {
    const length = this.#outLength;
    let view = this.#view;
    if (length === 0) view = EMPTY;
    else if (view.length !== length || view.buffer !== this.#out.buffer) {
      view = this.#view = this.#out.subarray(0, length);
    }
    const turn = this.#turn;
    turn.output = view;
    turn.errors = this.#outErrors;
    turn.lines = lines;
    turn.more = more;
    turn.close = this.#close;
    return turn;
  }

  /**
   * Handles received bytes with no bound per turn (every line of the chunk):
   * for tests and in-memory use; a server uses {@linkcode ServerConnection.feedBytes}.
   *
   * @param chunk The bytes.
   * @returns The replies to write, concatenated (`""` when none).
   */
  receive(chunk: Uint8Array): string {
    let turn = this.feed(chunk);
    let out = turn.output;
    while (turn.more) {
      turn = this.feed(EMPTY);
      out += turn.output;
    }
    return out;
  }

  /**
   * Ends the input (the peer closed its side): an unterminated last line is
   * handled like a complete one.
   *
   * @returns The replies to write, concatenated (`""` when none).
   */
  end(): string {
    if (this.#closed) return "";
    let out = this.#pending === undefined ? "" : this.receive(EMPTY);
    if (this.#closed) return out;
    this.#closed = true;
    const rest = this.#splitter.end();
    if (rest !== undefined) {
      this.#startOutput();
      this.#handleLine(rest, 0, rest.length);
      out += textOf(this.#out.subarray(0, this.#outLength));
    }
    return out;
  }

  /** Empties the output for a new turn; a buffer a burst left large is dropped. */
  #startOutput(): void {
    if (this.#out.length > KEPT_OUTPUT_BYTES && this.#outLength < this.#out.length / 4) {
      // The last view holds the old buffer too: drop both.
      this.#out = this.#view = EMPTY;
    }
    this.#outLength = 0;
    this.#outErrors = 0;
  }

  #handleLine(bytes: Uint8Array, start: number, end: number): void {
    const command = commandOf(bytes, start, end);
    let reply: Reply | undefined;
    if (command.type === "invalid") reply = { type: "error", message: command.message };
    else reply = this.#session.handle(command);
    if (reply === undefined) {
      this.#errors = 0;
      return;
    }
    if (reply.type === "error") {
      this.#reply(reply);
      if (++this.#errors >= MAX_CONSECUTIVE_ERRORS && this.#close === undefined) {
        this.#close = "too_many_errors";
        this.#reply({
          type: "error",
          message: `Too many errors: ${MAX_CONSECUTIVE_ERRORS} bad lines in a row, closing`,
        });
      }
      return;
    }
    this.#errors = 0;
    this.#reply(reply);
  }

  /** Appends a reply's line to the output, as {@linkcode formatReply} spells it. */
  #reply(reply: Reply): void {
    switch (reply.type) {
      case "number":
        this.#appendInteger(reply.value);
        return;
      case "error":
        this.#outErrors++;
        this.#appendText(formatReply(reply));
        return;
      default: {
        const unknown: never = reply;
        throw new RangeError(`Unknown reply ${excerpt(JSON.stringify(unknown))}`);
      }
    }
  }

  /** Makes room for `bytes` more bytes of output. */
  #reserve(bytes: number): Uint8Array {
    const needed = this.#outLength + bytes;
    if (needed > this.#out.length) {
      const grown = new Uint8Array(Math.max(64, needed, this.#out.length * 2));
      grown.set(this.#out.subarray(0, this.#outLength));
      this.#out = grown;
    }
    return this.#out;
  }

  /** Appends a safe integer in decimal and `\n`, like `${value}\n`. */
  #appendInteger(value: number): void {
    // A safe integer has at most 16 digits; a sign and the newline make 18.
    const out = this.#reserve(18);
    let at = this.#outLength;
    if (value < 0) {
      out[at++] = MINUS;
      value = -value;
    }
    let digits = 1;
    // Powers of ten are exact up to 10^22: the loop ends by 10^16, above every safe integer.
    for (let power = 10; power <= value; power *= 10) digits++;
    let i = at + digits - 1;
    // Above 2^31 in floating point (exact for safe integers), then in 32-bit integers.
    for (; value > 0x7fffffff; i--) {
      const rest = Math.floor(value / 10);
      out[i] = ZERO + (value - rest * 10);
      value = rest;
    }
    for (let small = value | 0; i >= at; i--) {
      const rest = (small / 10) | 0;
      out[i] = ZERO + (small - rest * 10);
      small = rest;
    }
    out[at + digits] = LF;
    this.#outLength = at + digits + 1;
  }

  /** Appends text (a formatted reply: ASCII, anything else as UTF-8). */
  #appendText(text: string): void {
    let ascii = true;
    for (let i = 0; ascii && i < text.length; i++) ascii = text.charCodeAt(i) <= 0x7f;
    if (!ascii) {
      const bytes = utf8Encoder.encode(text);
      this.#reserve(bytes.length).set(bytes, this.#outLength);
      this.#outLength += bytes.length;
      return;
    }
    const out = this.#reserve(text.length);
    const at = this.#outLength;
    for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
    this.#outLength = at + text.length;
  }
}

const utf8Encoder = new TextEncoder();

/** The text of reply bytes (ASCII, or UTF-8 that the core itself encoded). */
function textOf(bytes: Uint8Array): string {
  if (bytes.length === 0) return "";
  const text = tryDecodeLine(bytes);
  if (text === undefined) throw new RangeError("Reply bytes are not valid UTF-8");
  return text;
}

/** Whether `bytes[at, at + expected.length)` is `expected`. */
function startsWith(bytes: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  if (end - at < expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    if (bytes[at + i] !== expected[i]) return false;
  }
  return true;
}

/**
 * The command on the line `bytes[start, end)`, or why it is none. The valid
 * lines, all of the traffic of a well-behaved client, are recognised on the
 * bytes (a bound of more than {@linkcode FAST_DIGITS} digits excepted); the
 * rest is decoded and parsed by {@linkcode tryParseCommand}, which words the
 * errors. Nothing throws for a bad line.
 */
function commandOf(bytes: Uint8Array, start: number, end: number): ParsedCommand {
  const length = end - start;
  switch (bytes[start]) {
    case 0x4e: // N
      if (length === NUMBER_BYTES.length && startsWith(bytes, start, end, NUMBER_BYTES)) {
        return NUMBER;
      }
      break;
    case 0x52: // R
      if (startsWith(bytes, start, end, REPORT_PREFIX)) {
        const at = start + REPORT_PREFIX.length, first = bytes[at];
        // The length and the first byte tell the four apart; one comparison confirms.
        for (const report of REPORTS) {
          const expected = report.bytes;
          if (
            end - at === expected.length && first === expected[0] &&
            startsWith(bytes, at, end, expected)
          ) {
            return report.command;
          }
        }
      }
      break;
    case 0x50: { // P
      if (startsWith(bytes, start, end, PARAMS_PREFIX)) {
        const params = paramsOf(bytes, start + PARAMS_PREFIX.length, end);
        if (params !== undefined) return params;
      }
      break;
    }
  }
  const line = tryDecodeLine(bytes.subarray(start, end));
  if (line === undefined) return invalid(INVALID_UTF8);
  return tryParseCommand(line);
}

/**
 * The bounds `lower upper` at `bytes[at, end)` when both are short strict
 * integers (`-?[0-9]{1,15}`) separated by one space, else `undefined` (the
 * general parser decides).
 */
function paramsOf(bytes: Uint8Array, at: number, end: number): Command | undefined {
  const space = integerEnd(bytes, at, end);
  if (space < 0 || space === end) return undefined;
  if (integerEnd(bytes, space + 1, end) !== end) return undefined;
  return {
    type: "params",
    lower: integerValue(bytes, at, space),
    upper: integerValue(bytes, space + 1, end),
  };
}

/**
 * Where the strict integer of 1 to {@linkcode FAST_DIGITS} digits at
 * `bytes[at, …)` ends (at a space or at `end`), or -1 when there is none.
 */
function integerEnd(bytes: Uint8Array, at: number, end: number): number {
  if (at < end && bytes[at] === MINUS) at++;
  const first = at;
  while (at < end && bytes[at] >= ZERO && bytes[at] <= ZERO + 9) at++;
  const digits = at - first;
  if (digits === 0 || digits > FAST_DIGITS || (at < end && bytes[at] !== SPACE)) return -1;
  return at;
}

/** The value of the integer that {@linkcode integerEnd} found at `bytes[at, end)`; never -0. */
function integerValue(bytes: Uint8Array, at: number, end: number): number {
  const negative = bytes[at] === MINUS;
  let value = 0;
  for (let i = negative ? at + 1 : at; i < end; i++) value = value * 10 + bytes[i] - ZERO;
  return negative && value !== 0 ? -value : value;
}
