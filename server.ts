/**
 * The guess server: moves bytes between sockets (or any stream pair) and the
 * sans-I/O {@linkcode ServerConnection} of `protocol.ts`, with the limits a
 * public server needs: line length, connection count, idle time, output
 * backpressure and a graceful shutdown.
 *
 * @module
 */

import { MAX_LINE_BYTES } from "./framing.ts";
import { describeError, type Logger, silentLogger } from "./log.ts";
import {
  excerpt,
  formatReply,
  type GameEvent,
  ProtocolError,
  ServerConnection,
} from "./protocol.ts";
import { isStrategyName, STRATEGIES, type StrategyName } from "./strategies.ts";
import { Rng } from "./strategy.ts";

/**
 * The defaults of {@linkcode serve}, also shown by `serve --help`.
 *
 * @example
 * ```ts
 * import { SERVER_DEFAULTS } from "./server.ts";
 * console.assert(SERVER_DEFAULTS.port === 4321);
 * ```
 */
export const SERVER_DEFAULTS: Readonly<{
  hostname: string;
  port: number;
  maxLineBytes: number;
  maxConnections: number;
  idleTimeout: number;
  grace: number;
  tcpBacklog: number;
}> = Object.freeze({
  hostname: "127.0.0.1",
  port: 4321,
  maxLineBytes: MAX_LINE_BYTES,
  maxConnections: 10_000,
  idleTimeout: 300_000,
  grace: 5_000,
  tcpBacklog: 4096,
});

/**
 * Options of one game session, whatever carries it.
 *
 * @example
 * ```ts
 * import type { SessionServeOptions } from "./server.ts";
 * const options: SessionServeOptions = { strategy: "random", seed: 7 };
 * ```
 */
export interface SessionServeOptions {
  /**
   * How the server guesses.
   * @default {"random"}
   */
  strategy?: StrategyName;
  /**
   * Seed of the random source; the same seed replays the same guesses.
   * @default {a random seed}
   */
  seed?: number;
  /**
   * The longest command line, in bytes; a longer one gets `ERROR` and the
   * connection closes.
   * @default {1024}
   */
  maxLineBytes?: number;
  /**
   * Where start/stop, limit hits and errors are logged; per-game lines are
   * `debug`, written only by a verbose logger.
   * @default {silentLogger}
   */
  logger?: Logger;
  /** Called for every game event, e.g. to print the seed's `Server: …` lines. */
  onEvent?: (event: GameEvent) => void;
}

/**
 * Options of {@linkcode serve}, in the shape of `Deno.serve`'s.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "./server.ts";
 * const options: ServeOptions = { port: 0, idleTimeout: 60_000 };
 * ```
 */
export interface ServeOptions extends SessionServeOptions {
  /**
   * The address to listen on.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 picks any free one (read it from `addr`).
   * @default {4321}
   */
  port?: number;
  /** Aborting it shuts the server down, as {@linkcode GuessServer.shutdown} does. */
  signal?: AbortSignal;
  /** Called once the server listens, with its real address. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Called when a connection is accepted or closed, with the number now open. */
  onConnection?: (event: ConnectionEvent) => void;
  /**
   * How many connections at once; one more gets `ERROR Server busy …` and is closed.
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may go without completing a line before it gets
   * `ERROR Idle timeout` and is closed.
   * @default {300000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds that games in progress get to finish after shutdown starts.
   * @default {5000}
   */
  grace?: number;
  /**
   * The listen backlog (Deno's own default is 511).
   * @default {4096}
   */
  tcpBacklog?: number;
}

/**
 * A connection was accepted (`open`) or closed (`close`); `connections` is how
 * many are open now. Refused connections (over the limit) are not counted.
 *
 * @example
 * ```ts
 * import type { ConnectionEvent } from "./server.ts";
 * const event: ConnectionEvent = { type: "open", id: 1, connections: 1 };
 * ```
 */
export interface ConnectionEvent {
  /** What happened. */
  readonly type: "open" | "close";
  /** The connection's number, as in the logs. */
  readonly id: number;
  /** How many connections are open now. */
  readonly connections: number;
}

/**
 * A running server, shaped like `Deno.HttpServer`.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./server.ts";
 * await using server = serve({ port: 0 });
 * console.log(server.addr.port);
 * ```
 */
export interface GuessServer extends AsyncDisposable {
  /** The address the server listens on. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** How many connections are open. */
  readonly connections: number;
  /**
   * Stops accepting, lets games in progress finish within the grace time,
   * then closes what is left. Idempotent.
   *
   * @returns {@linkcode GuessServer.finished}.
   */
  shutdown(): Promise<void>;
}

/**
 * What a connection reads from and writes to: a `Deno.Conn`, or a stream pair
 * adapted by {@linkcode serveStreams}.
 */
interface Transport {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  /** Sends end-of-stream (TCP FIN) while still reading. */
  closeWrite(): Promise<void>;
  close(): void;
}

/** Commands are under 32 bytes: start small, double while reads fill the buffer. */
const MIN_READ_BUFFER = 64;
const MAX_READ_BUFFER = 16 * 1024;
/** The largest reply buffer a connection keeps between writes. */
const MAX_KEPT_OUT = 4 * 1024;
/** How long a connection the server ends keeps reading (and discarding) before it closes. */
const LINGER_MS = 2_000;
/** How much it discards at most in that time. */
const LINGER_BYTES = 64 * 1024;

function seedOf(options: SessionServeOptions): number {
  return options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * One connection's I/O loop. It reads into a small reused buffer (grown only
 * when reads fill it), hands the bytes to the sans-I/O core, and writes all
 * replies of one read in one write; it does not read again until that write
 * is done, so a peer that never reads cannot make the server buffer without
 * bound.
 *
 * When the server ends a connection (a line over the limit, a kick) it sends
 * its last `ERROR` line, half-closes, and keeps reading and discarding for a
 * bounded time, like nginx's lingering close: closing a socket with unread
 * input sends a TCP reset, which can destroy that last line before the peer
 * reads it.
 */
class Connection {
  readonly id: number;
  readonly #transport: Transport;
  readonly #core: ServerConnection;
  readonly #logger: Logger;
  readonly #encoder = new TextEncoder();
  #out = new Uint8Array(0);
  #writing = false;
  /** Set once the server is ending the connection: input is only discarded. */
  #ending = false;
  #closed = false;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last time (server clock) a line was completed. */
  lastActive: number;
  /** Set while the server drains: end once no game is running. */
  draining = false;

  constructor(
    id: number,
    transport: Transport,
    options: SessionServeOptions & { rng: Rng; now: number },
  ) {
    this.id = id;
    this.#transport = transport;
    this.#logger = options.logger ?? silentLogger;
    this.lastActive = options.now;
    const logger = this.#logger;
    const onEvent = options.onEvent;
    this.#core = new ServerConnection({
      maxLineBytes: options.maxLineBytes,
      strategy: options.strategy,
      rng: options.rng,
      onEvent: logger.verbose || onEvent
        ? (event) => {
          onEvent?.(event);
          logGameEvent(logger, id, event);
        }
        : undefined,
    });
  }

  get inGame(): boolean {
    return this.#core.inGame;
  }

  /** Runs until the peer leaves, an I/O error, or the end of a linger. Never rejects. */
  async run(clock: () => number): Promise<void> {
    const core = this.#core;
    let buffer = new Uint8Array(MIN_READ_BUFFER);
    let discarded = 0;
    try {
      for (;;) {
        const n = await this.#transport.read(buffer);
        if (n === null) {
          if (!this.#ending) await this.#write(core.end());
          break;
        }
        if (this.#ending) {
          discarded += n;
          if (discarded > LINGER_BYTES) break;
          continue;
        }
        const lines = core.lines;
        const out = core.receive(buffer.subarray(0, n));
        if (core.lines !== lines) this.lastActive = clock();
        await this.#write(out);
        if (core.closed) {
          this.#logger.log("warn", "Line too long, closing", { conn: this.id });
          await this.#end();
        } else if (this.draining && !core.inGame) {
          await this.#write(formatReply({ type: "error", message: "Server shutting down" }));
          await this.#end();
        } else if (n === buffer.length && buffer.length < MAX_READ_BUFFER) {
          buffer = new Uint8Array(buffer.length * 2);
        }
      }
    } catch (error) {
      if (!this.#ending && !this.#closed) {
        this.#logger.log("debug", "Connection failed", {
          conn: this.id,
          error: describeError(error),
        });
      }
    } finally {
      this.close();
    }
  }

  /**
   * Ends the connection from the server's side with `ERROR <message>`. When
   * the loop is stuck writing to a peer that does not read, it just closes.
   * Idempotent.
   */
  kick(message: string): void {
    if (this.#ending || this.#closed) return;
    if (this.#writing) {
      this.close();
      return;
    }
    // The loop is waiting in read(): from now on it only discards what it reads.
    this.#linger();
    this.#write(formatReply({ type: "error", message }))
      .then(() => this.#transport.closeWrite())
      .catch(() => this.close());
  }

  /** Stops replying; the loop discards input until EOF or the deadline. */
  #linger(): void {
    this.#ending = true;
    this.#lingerTimer = setTimeout(() => this.close(), LINGER_MS);
  }

  /** Half-closes after the last reply and lingers. */
  async #end(): Promise<void> {
    this.#linger();
    await this.#transport.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ending = true;
    clearTimeout(this.#lingerTimer);
    try {
      this.#transport.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  async #write(text: string): Promise<void> {
    if (text === "") return;
    // Replies are ASCII: one byte per character.
    // The buffer kept per connection grows to what its replies need, up to
    // MAX_KEPT_OUT; a larger batch (a deep pipeline) gets a buffer of its own.
    if (this.#out.length < text.length && text.length <= MAX_KEPT_OUT) {
      this.#out = new Uint8Array(Math.min(MAX_KEPT_OUT, Math.max(64, text.length * 2)));
    }
    const out = text.length <= this.#out.length ? this.#out : new Uint8Array(text.length);
    const { written } = this.#encoder.encodeInto(text, out);
    this.#writing = true;
    try {
      let offset = 0;
      while (offset < written) {
        offset += await this.#transport.write(out.subarray(offset, written));
      }
    } finally {
      this.#writing = false;
    }
  }
}

function logGameEvent(logger: Logger, conn: number, event: GameEvent): void {
  switch (event.type) {
    case "start":
      logger.log("debug", `Game started in [${event.lower}, ${event.upper}]`, { conn });
      return;
    case "report":
      logger.log("debug", `Server: ${event.guess} is ${event.decision}`, { conn });
      return;
    case "end":
      logger.log("debug", `Game ended after ${event.guesses} guesses`, { conn });
      return;
    default: {
      const unknown: never = event;
      throw new RangeError(`Unknown event ${excerpt(JSON.stringify(unknown))}`);
    }
  }
}

function addressOf(addr: Deno.Addr): string {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? `${addr.hostname}:${addr.port}`
    : addr.transport;
}

/**
 * Starts a guess server on TCP. Each connection is its own game session.
 *
 * @param options Address, limits, strategy and logging.
 * @returns The running server; dispose it (or call `shutdown()`) to stop it.
 *
 * @example Serve on any free port, play one exchange, shut down
 * ```ts ignore
 * import { serve } from "./server.ts";
 * await using server = serve({ port: 0 });
 * using conn = await Deno.connect({ port: server.addr.port });
 * await conn.write(new TextEncoder().encode("PARAMS 1 1\nNUMBER\n"));
 * const buffer = new Uint8Array(16);
 * const n = await conn.read(buffer);
 * console.log(new TextDecoder().decode(buffer.subarray(0, n!))); // "1\n"
 * ```
 */
export function serve(options: ServeOptions = {}): GuessServer {
  const settings = { ...SERVER_DEFAULTS, ...withoutUndefined(options) };
  const logger = options.logger ?? silentLogger;
  // Every option is checked before the listener opens, so a bad one leaks nothing.
  const keys = ["maxLineBytes", "maxConnections", "idleTimeout", "grace", "tcpBacklog"] as const;
  for (const key of keys) {
    const value = settings[key];
    const least = key === "grace" ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(`Option ${key} must be an integer of at least ${least}, got ${value}`);
    }
  }
  if (options.strategy !== undefined && !isStrategyName(options.strategy)) {
    throw new RangeError(`Option strategy must be one of ${STRATEGIES.join(", ")}`);
  }
  const rng = new Rng(seedOf(options));
  const listener = Deno.listen({
    hostname: settings.hostname,
    port: settings.port,
    tcpBacklog: settings.tcpBacklog,
  });
  const addr = listener.addr;
  const connections = new Set<Connection>();
  const refusals = new Set<Promise<void>>();
  let nextId = 1;
  let stopping = false;
  let now = performance.now();
  const clock = () => now;

  const sweepEvery = Math.max(10, Math.min(1_000, Math.floor(settings.idleTimeout / 4)));
  const sweeper = setInterval(() => {
    now = performance.now();
    for (const connection of connections) {
      if (now - connection.lastActive > settings.idleTimeout) {
        logger.log("info", "Idle timeout, closing", { conn: connection.id });
        connection.kick("Idle timeout");
      }
    }
  }, sweepEvery);
  Deno.unrefTimer(sweeper);

  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let allClosed: () => void = () => {};
  const closedPromise = new Promise<void>((resolve) => allClosed = resolve);
  const checkFinished = () => {
    if (stopping && connections.size === 0) allClosed();
  };

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping) return;
        // E.g. out of file descriptors: say so, back off briefly, keep serving.
        logger.log("error", "Accept failed", { error: describeError(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (stopping) {
        conn.close();
        continue;
      }
      if (connections.size >= settings.maxConnections) {
        logger.log("warn", "Server busy, refusing connection", {
          remote: addressOf(conn.remoteAddr),
          connections: connections.size,
        });
        const refusal = refuse(
          conn,
          `Server busy: ${settings.maxConnections} connections, try again later`,
        );
        refusals.add(refusal);
        refusal.finally(() => refusals.delete(refusal));
        continue;
      }
      // Replies are tiny and each one is awaited by its client: never hold one for Nagle.
      conn.setNoDelay(true);
      const connection = new Connection(nextId++, conn, {
        ...options,
        maxLineBytes: settings.maxLineBytes,
        rng: rng.fork(),
        now,
      });
      connections.add(connection);
      logger.log("debug", "Connection opened", {
        conn: connection.id,
        remote: addressOf(conn.remoteAddr),
      });
      options.onConnection?.({ type: "open", id: connection.id, connections: connections.size });
      connection.run(clock).finally(() => {
        connections.delete(connection);
        logger.log("debug", "Connection closed", { conn: connection.id });
        options.onConnection?.({ type: "close", id: connection.id, connections: connections.size });
        checkFinished();
      });
    }
  })();

  const finished = Promise.all([accepting, closedPromise]).then(async () => {
    clearTimeout(graceTimer);
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all(refusals);
    logger.log("info", "Server stopped");
  });

  const shutdown = (): Promise<void> => {
    if (stopping) return finished;
    stopping = true;
    clearInterval(sweeper);
    logger.log("info", "Shutting down", {
      connections: connections.size,
      grace_ms: settings.grace,
    });
    listener.close();
    for (const connection of connections) {
      if (connection.inGame) connection.draining = true;
      else connection.kick("Server shutting down");
    }
    if (connections.size > 0) {
      graceTimer = setTimeout(() => {
        for (const connection of connections) connection.kick("Server shutting down");
      }, settings.grace);
    }
    checkFinished();
    return finished;
  };

  const onAbort = () => void shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) shutdown();
  if (options.onListen) options.onListen(addr);
  else logger.log("info", `Listening on ${addressOf(addr)}`);

  return {
    addr,
    finished,
    get connections() {
      return connections.size;
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

function refuse(conn: Deno.Conn, message: string): Promise<void> {
  return conn.write(new TextEncoder().encode(formatReply({ type: "error", message })))
    .then(() => {}, () => {})
    .finally(() => conn.close());
}

function withoutUndefined<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(object).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/**
 * Runs one game session over any byte stream pair: an in-memory pipe, stdin
 * and stdout, a WebSocket stream. Resolves when the input ends (after the last
 * replies are written) or a line is over the limit; the writable is closed.
 *
 * @param readable Where the commands come from.
 * @param writable Where the replies go.
 * @param options Strategy, seed, line limit, events.
 * @returns Resolves when the session is over.
 *
 * @example One exchange in memory
 * ```ts
 * import { serveStreams } from "./server.ts";
 * const input = ReadableStream.from([new TextEncoder().encode("PARAMS 7 7\nNUMBER\n")]);
 * const chunks: Uint8Array[] = [];
 * await serveStreams(input, new WritableStream({ write: (chunk) => void chunks.push(chunk) }));
 * console.assert(new TextDecoder().decode(chunks[0]) === "7\n");
 * ```
 */
export async function serveStreams(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: SessionServeOptions = {},
): Promise<void> {
  const connection = new Connection(0, streamTransport(readable, writable), {
    ...options,
    rng: new Rng(seedOf(options)),
    now: 0,
  });
  await connection.run(() => 0);
}

function streamTransport(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
): Transport {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  let pending: Uint8Array | undefined;
  return {
    async read(buffer) {
      while (pending === undefined || pending.length === 0) {
        const { value, done } = await reader.read();
        if (done) return null;
        pending = value;
      }
      const n = Math.min(buffer.length, pending.length);
      buffer.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    },
    async write(bytes) {
      await writer.write(bytes.slice());
      return bytes.length;
    },
    closeWrite() {
      // In memory there is no reset to guard against: end both directions now.
      reader.cancel(new ProtocolError("Server closed the connection")).catch(() => {});
      return writer.close();
    },
    close() {
      // The reason reaches a peer still writing to us.
      reader.cancel(new ProtocolError("Server closed the connection")).catch(() => {});
      writer.close().catch(() => {});
    },
  };
}
