/**
 * The guess client: plays the client's side of the protocol over TCP or any
 * byte stream pair, validating every reply. Games are scoped with
 * `await using`, like the seed's `async with client.session(...)`.
 *
 * @module
 */

import { LineStream, MAX_LINE_BYTES } from "./framing.ts";
import {
  type Command,
  type Decision,
  errorMessage,
  formatCommand,
  judge,
  parseReply,
  ProtocolError,
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
 * A client with no connection to send on: it was closed, or it failed earlier
 * (the original error is the `cause`).
 */
function closedError(cause: unknown): ProtocolError {
  return new ProtocolError("Connection is closed", { cause });
}

/**
 * One connection to a guess server. Commands go out one at a time, in call
 * order; only `NUMBER` waits for a reply. After any failure (timeout, bad
 * reply, hang-up) the client is closed and every later call rejects.
 *
 * @example Over an in-memory server
 * ```ts
 * import { Client } from "./client.ts";
 * import { serveStreams } from "./server.ts";
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const serving = serveStreams(up.readable, down.writable, { seed: 1 });
 * {
 *   await using client = new Client(down.readable, up.writable);
 *   await using game = await client.session(1, 5, 3);
 *   for await (const n of game.requestNumbers(5)) await game.reportOutcome(n);
 * }
 * await serving;
 * ```
 */
export class Client implements AsyncDisposable {
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  readonly #timeout: number;
  readonly #onClose: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #failure: unknown;
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
    this.#lines = readable.pipeThrough(new LineStream(options.maxLineBytes ?? MAX_LINE_BYTES))
      .getReader();
    this.#writer = writable.getWriter();
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#onClose = onClose;
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
    await this.send({ type: "params", lower, upper });
    return new Game(this, lower, upper, secret);
  }

  /**
   * Sends one command; for `NUMBER`, waits for the reply.
   *
   * @param command The command.
   * @returns The number replied to `NUMBER`, else `undefined`.
   * @throws {ServerError} When the server answers `ERROR …`.
   * @throws {ProtocolError} When the reply is malformed, late, or the connection closed.
   */
  send(command: Command): Promise<number | undefined> {
    const result = this.#queue.then(() => this.#command(command));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #command(command: Command): Promise<number | undefined> {
    if (this.#closed) throw closedError(this.#failure);
    try {
      await this.#writer.write(this.#encoder.encode(formatCommand(command)));
      if (command.type !== "number") return undefined;
      const reply = parseReply(await this.#readLine());
      switch (reply.type) {
        case "number":
          return reply.value;
        case "error":
          throw new ServerError(reply.message);
        default: {
          const unknown: never = reply;
          throw new ProtocolError(`Unknown reply ${JSON.stringify(unknown)}`);
        }
      }
    } catch (error) {
      // An ERROR reply leaves the connection usable; anything else ends it.
      if (!(error instanceof ServerError)) await this.#fail(error);
      throw error instanceof ProtocolError || error instanceof ServerError
        ? error
        : new ProtocolError(`Connection failed: ${errorMessage(error)}`, { cause: error });
    }
  }

  async #readLine(): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ProtocolError(`No reply within ${this.#timeout} ms`)),
        this.#timeout,
      );
    });
    try {
      const { value, done } = await Promise.race([this.#lines.read(), late]);
      if (done) throw new ProtocolError("Server closed the connection");
      return value;
    } finally {
      clearTimeout(timer);
    }
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
    await Promise.allSettled([this.#lines.cancel(), this.#writer.close()]);
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
  async requestNumber(): Promise<number> {
    const value = await this.#client.send({ type: "number" });
    if (value === undefined || value < this.lower || value > this.upper) {
      const error = new ProtocolError(
        `Reply ${value} is outside the game's range [${this.lower}, ${this.upper}]`,
      );
      await this.#client.close();
      throw error;
    }
    return value;
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
    await this.#client.send({ type: "report", decision });
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
    await this.#client.send({ type: "params", lower: 0, upper: -1 });
  }

  /** Same as {@linkcode Game.end}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.end();
  }
}

/**
 * Connects to a guess server over TCP.
 *
 * @param options Host, port, timeouts.
 * @returns The client; dispose it to close the connection.
 * @throws {Deno.errors.ConnectionRefused} And the other `Deno.connect` errors.
 * @throws {ProtocolError} When connecting takes longer than the timeout.
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
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({ hostname, port });
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Close the connection if it arrives after all.
      connecting.then((conn) => conn.close(), () => {});
      reject(new ProtocolError(`Could not connect to ${hostname}:${port} within ${timeout} ms`));
    }, timeout);
  });
  try {
    const conn = await Promise.race([connecting, late]);
    // Commands are small separate writes (REPORT, then NUMBER): without this,
    // Nagle holds each NUMBER for the server's delayed ACK, ~40 ms per guess.
    conn.setNoDelay(true);
    return new Client(conn.readable, conn.writable, options, () => {
      try {
        conn.close();
      } catch {
        // The streams already released the socket.
      }
    });
  } finally {
    clearTimeout(timer);
  }
}
