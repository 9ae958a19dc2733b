/**
 * The guess client: plays the client's side of the protocol over TCP or any
 * byte stream pair, validating every reply. Games are scoped with
 * `await using`, like the seed's `async with client.session(...)`.
 *
 * @module
 */

import { decodeLine, LineSplitter, MAX_LINE_BYTES } from "./framing.ts";
import { errorMessage } from "./log.ts";
import { closeQuietly, writeAll } from "./net.ts";
import {
  type Command,
  type Decision,
  excerpt,
  formatCommand,
  judge,
  parseReply,
  ProtocolError,
  type Reply,
  ServerError,
} from "./protocol.ts";

/**
 * Options of a {@linkcode Client}.
 *
 * @example
 * ```ts
 * import type { ClientOptions } from "./client.ts";
 * const options: ClientOptions = { timeout: 2_000 };
 * ```
 */
export interface ClientOptions {
  /**
   * Milliseconds to wait for a reply (and, over TCP, for the connection)
   * before failing with a {@linkcode ProtocolError}.
   * @default {10000}
   */
  timeout?: number;
  /**
   * The longest reply line accepted, in bytes.
   * @default {1024}
   */
  maxLineBytes?: number;
}

/**
 * Options of {@linkcode connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./client.ts";
 * const options: ConnectOptions = { hostname: "127.0.0.1", port: 4321 };
 * ```
 */
export interface ConnectOptions extends ClientOptions {
  /**
   * The server's host.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The server's port.
   * @default {4321}
   */
  port?: number;
}

const DEFAULT_TIMEOUT = 10_000;

/**
 * The one rule for a reply to `NUMBER`, shared by {@linkcode Game}, `play
 * --human` and the load generator: an integer in [lower, upper] is the
 * guess; `ERROR …` is the server's {@linkcode ServerError}; anything else
 * breaks the protocol.
 *
 * @param reply The parsed reply line.
 * @param lower The game's smallest possible secret.
 * @param upper The game's largest possible secret.
 * @returns The guess.
 * @throws {ServerError} For an `ERROR` reply.
 * @throws {ProtocolError} For a number outside [lower, upper].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGuess } from "./client.ts";
 * import { ProtocolError, ServerError } from "./protocol.ts";
 * assert.equal(checkGuess({ type: "number", value: 3 }, 1, 5), 3);
 * assert.throws(() => checkGuess({ type: "number", value: 6 }, 1, 5), ProtocolError);
 * assert.throws(() => checkGuess({ type: "error", message: "Range exhausted" }, 1, 5), ServerError);
 * ```
 */
export function checkGuess(reply: Reply, lower: number, upper: number): number {
  switch (reply.type) {
    case "number":
      if (reply.value < lower || reply.value > upper) {
        throw new ProtocolError(
          `Reply ${reply.value} is outside the game's range [${lower}, ${upper}]`,
        );
      }
      return reply.value;
    case "error":
      throw new ServerError(printable(reply.message));
    default: {
      const unknown: never = reply;
      throw new ProtocolError(`Unknown reply ${excerpt(JSON.stringify(unknown))}`);
    }
  }
}

/**
 * Peer text made safe for a terminal or a log: printable ASCII stays, every
 * other character (ESC, BEL, CR, …) becomes `\u{…}`, as in `excerpt()`.
 */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/**
 * Connecting failed: the host did not resolve, nothing listens there, the
 * connect timed out, or another network error (the `cause`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectError } from "./client.ts";
 * const error = new ConnectError("refused", "127.0.0.1", 1, { cause: new Error("os error 111") });
 * assert.equal(error.message, "Cannot connect to 127.0.0.1:1: connection refused");
 * ```
 */
export class ConnectError extends Error {
  /** What went wrong, for a caller that wants to say what to do about it. */
  readonly reason: "unresolved" | "refused" | "timeout" | "other";
  /** The host that was tried. */
  readonly hostname: string;
  /** The port that was tried. */
  readonly port: number;

  /**
   * Makes the error.
   *
   * @param reason What went wrong.
   * @param hostname The host that was tried.
   * @param port The port that was tried.
   * @param options The `cause` (the runtime's error), and for a timeout its length.
   */
  constructor(
    reason: "unresolved" | "refused" | "timeout" | "other",
    hostname: string,
    port: number,
    options: ErrorOptions & { timeout?: number } = {},
  ) {
    const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    let message: string;
    switch (reason) {
      case "unresolved":
        message = `Cannot resolve host ${JSON.stringify(printable(hostname))}`;
        break;
      case "refused":
        message = `Cannot connect to ${where}: connection refused`;
        break;
      case "timeout":
        message = `Cannot connect to ${where} within ${options.timeout} ms`;
        break;
      case "other":
        message = `Cannot connect to ${where}: ${errorMessage(options.cause)}`;
        break;
      default: {
        const unknown: never = reason;
        throw new RangeError(`Unknown reason ${JSON.stringify(unknown)}`);
      }
    }
    super(message, options);
    this.name = "ConnectError";
    this.reason = reason;
    this.hostname = hostname;
    this.port = port;
  }
}

/**
 * A client with no connection to send on: it was closed, or it failed earlier
 * (the original error is the `cause`). When the server said why it closed
 * (`ERROR Server shutting down`), that {@linkcode ServerError} is the answer.
 */
function closedError(cause: unknown): ProtocolError | ServerError {
  if (cause instanceof ServerError) return cause;
  return new ProtocolError("Connection is closed", { cause });
}

/**
 * One connection to a guess server. Commands go out one at a time, in call
 * order, through `params`, `number` and `report`; only `NUMBER` waits for a
 * reply, checked with {@linkcode checkGuess} against the range of the last
 * `PARAMS`. The client reads all the time, so a line the server sends on its
 * own is not lost: `ERROR …` before a close (`Server busy`, `Idle timeout`,
 * `Server shutting down`) is raised as that {@linkcode ServerError}, any
 * other unasked-for line is a {@linkcode ProtocolError}, and so is a last
 * line cut off by the close. After any failure (timeout, bad reply, hang-up)
 * the client is closed and every later call rejects. A bad argument
 * (`params(1.5, 2)`) rejects with `RangeError` before anything is sent and
 * leaves the connection as it was.
 *
 * @example Over an in-memory server
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client } from "./client.ts";
 * import { serveStreams } from "./server.ts";
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const serving = serveStreams(up.readable, down.writable, { seed: 1 });
 * {
 *   await using client = new Client(down.readable, up.writable);
 *   await client.params(7, 7);
 *   assert.equal(await client.number(), 7);
 *   await client.report("Correct");
 *   await using game = await client.session(1, 5, 3);
 *   for await (const n of game.requestNumbers(5)) await game.reportOutcome(n);
 *   assert.equal(game.solved, true);
 * }
 * await serving;
 * ```
 */
export class Client implements AsyncDisposable {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #splitter: LineSplitter;
  readonly #encoder = new TextEncoder();
  readonly #timeout: number;
  readonly #onClose: (() => void) | undefined;
  readonly #reading: Promise<void>;
  #queue: Promise<unknown> = Promise.resolve();
  /** The reply to the outstanding `NUMBER`, once it arrived. */
  #reply: string | undefined;
  /** Whether a `NUMBER` was sent and its reply not yet received. */
  #awaiting = false;
  /** Why the input ended (set once), or `undefined` while it is open. */
  #ended: ProtocolError | ServerError | undefined;
  /** The last line received, when it was `ERROR …`: what a close then means. */
  #lastError: ServerError | undefined;
  #wake: (() => void) | undefined;
  /** The range of the game in progress, from the last `PARAMS`. */
  #range: readonly [number, number] | undefined;
  #failure: unknown;
  /** Whether a call already threw the failure (later calls say "Connection is closed"). */
  #reported = false;
  #closed = false;

  /**
   * Wraps a stream pair as a client; prefer {@linkcode connect} for TCP.
   *
   * @param readable The server's replies.
   * @param writable Where commands go.
   * @param options Reply timeout and line limit.
   * @param onClose Called once when the client closes, e.g. to close a socket.
   */
  constructor(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
    options: ClientOptions = {},
    onClose?: () => void,
  ) {
    this.#splitter = new LineSplitter(options.maxLineBytes ?? MAX_LINE_BYTES);
    this.#reader = readable.getReader();
    this.#writer = writable.getWriter();
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#onClose = onClose;
    this.#reading = this.#read();
  }

  /** Whether the client is closed (by `close()` or a failure). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts a game: sends `PARAMS lower upper`. Dispose the returned game
   * (`await using`) to send `PARAMS 0 -1`, also when the body throws.
   *
   * @param lower The smallest possible secret.
   * @param upper The largest possible secret.
   * @param secret The secret, which never leaves the client.
   * @returns The game.
   * @throws {RangeError} When the bounds or the secret are not safe integers
   * with lower ≤ secret ≤ upper.
   */
  async session(lower: number, upper: number, secret: number): Promise<Game> {
    if (![lower, upper, secret].every(Number.isSafeInteger) || lower > secret || secret > upper) {
      throw new RangeError(
        `Need safe integers with lower <= secret <= upper, got ${lower}, ${secret}, ${upper}`,
      );
    }
    await this.params(lower, upper);
    return new Game(this, lower, upper, secret);
  }

  /**
   * Sends `PARAMS lower upper`: a new game over [lower, upper], or with
   * lower > upper (`PARAMS 0 -1`) the end of the game.
   *
   * @param lower The smallest possible secret.
   * @param upper The largest possible secret.
   * @throws {RangeError} When a bound is not a safe integer; nothing is sent.
   * @throws {ServerError} When the server ended the connection with `ERROR …`.
   * @throws {ProtocolError} When the connection failed or is closed.
   */
  async params(lower: number, upper: number): Promise<void> {
    const bytes = this.#format({ type: "params", lower, upper });
    await this.#command(bytes, () => {
      this.#range = lower <= upper ? [lower, upper] : undefined;
    });
  }

  /**
   * Sends `NUMBER` and waits for the server's guess.
   *
   * @returns The guess, an integer in the range of the last `PARAMS`.
   * @throws {ServerError} When the server answers `ERROR …`.
   * @throws {ProtocolError} When the reply is malformed, out of range, late,
   * or the connection closed.
   */
  async number(): Promise<number> {
    const bytes = this.#format({ type: "number" });
    return await this.#command(bytes, () => {
      this.#awaiting = true;
    }, true);
  }

  /**
   * Sends `REPORT decision`.
   *
   * @param decision How the last guess compares with the one before.
   * @throws {RangeError} When `decision` is not one of the four; nothing is sent.
   * @throws {ServerError} When the server ended the connection with `ERROR …`.
   * @throws {ProtocolError} When the connection failed or is closed.
   */
  async report(decision: Decision): Promise<void> {
    await this.#command(this.#format({ type: "report", decision }), () => {});
  }

  /** Formats a command; a bad argument throws here, before anything is queued. */
  #format(command: Command): Uint8Array {
    return this.#encoder.encode(formatCommand(command));
  }

  /** The one command path: queued, written, and for `NUMBER` its reply read. */
  #command(bytes: Uint8Array, before: () => void): Promise<void>;
  #command(bytes: Uint8Array, before: () => void, reply: true): Promise<number>;
  #command(bytes: Uint8Array, before: () => void, reply = false): Promise<number | void> {
    const result = this.#queue.then(() => this.#run(bytes, before, reply));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #run(bytes: Uint8Array, before: () => void, reply: boolean): Promise<number | void> {
    if (this.#closed) throw this.#closedError();
    if (this.#ended) {
      // The input ended while nothing was outstanding.
      await this.#fail(this.#ended);
      throw this.#closedError();
    }
    try {
      before();
      try {
        await this.#writer.write(bytes);
      } catch (error) {
        throw await this.#writeFailed(error);
      }
      if (!reply) return;
      const range = this.#range;
      const parsed = parseReply(await this.#readReply());
      if (range === undefined && parsed.type === "number") {
        throw new ProtocolError(`Reply ${parsed.value} with no game in progress`);
      }
      // With no game in progress only ERROR is right (the server's "No game in progress").
      return checkGuess(parsed, range?.[0] ?? 1, range?.[1] ?? 0);
    } catch (error) {
      // An ERROR reply leaves the connection usable; anything else ends it.
      if (error instanceof ServerError && !this.#closed && this.#ended === undefined) throw error;
      await this.#fail(error);
      this.#reported = true;
      throw error instanceof ProtocolError || error instanceof ServerError
        ? error
        : new ProtocolError(`Connection failed: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Why a call cannot run: the failure itself the first time, then "Connection is closed". */
  #closedError(): unknown {
    if (this.#reported || this.#failure === undefined) return closedError(this.#failure);
    this.#reported = true;
    return this.#failure;
  }

  /**
   * A write failed (the server reset or closed): what the server sent before
   * that, if it said why (`ERROR Server busy`), else the write's error.
   */
  async #writeFailed(error: unknown): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, this.#timeout));
    try {
      // The socket is gone, so the read ends soon; the timer only bounds it.
      await Promise.race([this.#reading, late]);
    } finally {
      clearTimeout(timer);
    }
    return this.#ended instanceof ServerError ? this.#ended : error;
  }

  async #readReply(): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, this.#timeout));
    try {
      while (this.#reply === undefined) {
        if (this.#ended) throw this.#ended;
        let timedOut = false;
        const woken = new Promise<void>((resolve) => this.#wake = resolve);
        await Promise.race([woken, late.then(() => timedOut = true)]);
        if (timedOut && this.#reply === undefined) {
          throw new ProtocolError(`No reply within ${this.#timeout} ms`);
        }
      }
      const line = this.#reply;
      this.#reply = undefined;
      return line;
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  /** The background reader: every line the server sends, as it arrives. */
  async #read(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#splitter.push(value, (bytes, start, end) => {
          if (this.#ended === undefined) this.#receive(decodeLine(bytes.subarray(start, end)));
        });
      }
      const rest = this.#splitter.end();
      if (rest !== undefined && this.#ended === undefined) {
        this.#end(
          new ProtocolError(
            `Server closed the connection in the middle of a line: ${excerpt(decodeLine(rest))}`,
          ),
        );
      }
      this.#end(this.#lastError ?? new ProtocolError("Server closed the connection"));
    } catch (error) {
      this.#end(
        error instanceof ProtocolError
          ? error
          : new ProtocolError(`Connection failed: ${errorMessage(error)}`, { cause: error }),
      );
    }
  }

  #receive(line: string): void {
    const reply = line.startsWith("ERROR ") ? parseReply(line) : undefined;
    this.#lastError = reply?.type === "error"
      ? new ServerError(printable(reply.message))
      : undefined;
    if (this.#awaiting && this.#reply === undefined) {
      this.#awaiting = false;
      this.#reply = line;
      this.#wake?.();
      return;
    }
    const reason = this.#lastError ??
      new ProtocolError(`Server sent ${excerpt(line)} with no NUMBER outstanding`);
    this.#end(reason);
    // Nothing more to hear from a server that broke the rules or said goodbye.
    // Not awaited: close() waits for this reader, which is running it.
    void this.#fail(reason);
  }

  #end(reason: ProtocolError | ServerError): void {
    this.#ended ??= reason;
    this.#wake?.();
  }

  async #fail(error: unknown): Promise<void> {
    this.#failure ??= error;
    await this.close();
  }

  /**
   * Closes the connection. Idempotent; never rejects.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#end(new ProtocolError("Connection is closed"));
    await Promise.allSettled([this.#reader.cancel(), this.#writer.close(), this.#reading]);
    this.#onClose?.();
  }

  /** Same as {@linkcode Client.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * One game on a {@linkcode Client}: the secret stays here, the client judges
 * each guess with {@linkcode judge}. Disposing it sends `PARAMS 0 -1`.
 *
 * @example The seed's loop
 * ```ts ignore
 * await using game = await client.session(1, 5, 3);
 * for await (const n of game.requestNumbers(5)) {
 *   console.log(n, await game.reportOutcome(n));
 * }
 * ```
 */
export class Game implements AsyncDisposable {
  /** The smallest possible secret. */
  readonly lower: number;
  /** The largest possible secret. */
  readonly upper: number;
  /** The secret. */
  readonly secret: number;
  readonly #client: Client;
  #distance: bigint | undefined;
  #ended = false;

  /**
   * Use {@linkcode Client.session} instead; this does not send `PARAMS`.
   *
   * @param client The connection.
   * @param lower The smallest possible secret.
   * @param upper The largest possible secret.
   * @param secret The secret.
   */
  constructor(client: Client, lower: number, upper: number, secret: number) {
    this.#client = client;
    this.lower = lower;
    this.upper = upper;
    this.secret = secret;
  }

  /** Whether the last reported guess was correct. */
  get solved(): boolean {
    return this.#distance === 0n;
  }

  /**
   * Asks for the server's next guess (`NUMBER`) and checks it is in range.
   *
   * @returns The guess.
   * @throws {ServerError} When the server answers `ERROR …`.
   * @throws {ProtocolError} When the reply is not a number in [lower, upper].
   */
  requestNumber(): Promise<number> {
    return this.#client.number();
  }

  /**
   * Asks for up to `count` guesses, stopping after one is reported `Correct`,
   * like the seed's `request_numbers`.
   *
   * @param count The most guesses to ask for.
   * @returns The guesses, one at a time.
   */
  async *requestNumbers(count: number): AsyncGenerator<number, void, undefined> {
    for (let i = 0; i < count; i++) {
      yield await this.requestNumber();
      if (this.solved) return;
    }
  }

  /**
   * Judges a guess against the secret and sends `REPORT <decision>`.
   *
   * @param guess The server's guess.
   * @returns The decision sent.
   */
  async reportOutcome(guess: number): Promise<Decision> {
    const { decision, distance } = judge(this.secret, guess, this.#distance);
    this.#distance = distance;
    await this.#client.report(decision);
    return decision;
  }

  /**
   * Ends the game: sends `PARAMS 0 -1`. Idempotent. When the connection is
   * already closed there is nothing to tell the server and it resolves quietly,
   * so the error that closed it is the one you see.
   */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#client.closed) return;
    try {
      await this.#client.params(0, -1);
    } catch (error) {
      // The connection went while ending: the error that closed it is the news.
      if (!this.#client.closed) throw error;
    }
  }

  /** Same as {@linkcode Game.end}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.end();
  }
}

/**
 * Connects to a guess server over TCP. On timeout the pending connect is
 * aborted, so nothing keeps the process waiting for the kernel to give up.
 *
 * @param options Host, port, timeouts.
 * @returns The client; dispose it to close the connection.
 * @throws {ConnectError} When the host does not resolve, the connection is
 * refused or fails, or connecting takes longer than the timeout; the
 * runtime's error is the `cause`.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./client.ts";
 * await using client = await connect({ port: 4321 });
 * await using game = await client.session(1, 5, 3);
 * ```
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 4321;
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port, signal: controller.signal });
  } catch (cause) {
    const reason = controller.signal.aborted
      ? "timeout"
      : cause instanceof Deno.errors.ConnectionRefused
      ? "refused"
      : cause instanceof Error && cause.message.startsWith("failed to lookup address")
      ? "unresolved"
      : "other";
    throw new ConnectError(reason, hostname, port, { cause, timeout });
  } finally {
    clearTimeout(timer);
  }
  // Commands are small separate writes (REPORT, then NUMBER): without this,
  // Nagle holds each NUMBER for the server's delayed ACK, ~40 ms per guess.
  conn.setNoDelay(true);
  // Not conn.readable/writable: those close the socket when either side ends
  // or fails, so a failed write would throw away a reply already received
  // (the server's ERROR line) before the client reads it.
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(READ_BYTES);
      const n = await conn.read(buffer);
      if (n === null) controller.close();
      else controller.enqueue(buffer.subarray(0, n));
    },
  });
  const writable = new WritableStream<Uint8Array>({
    write: (bytes) => writeAll(conn, bytes),
  });
  return new Client(readable, writable, options, () => closeQuietly(conn));
}

/** Bytes per read: a game's replies are a few bytes each. */
const READ_BYTES = 4096;
