/**
 * The guess server: moves bytes between sockets (or any stream pair) and the
 * sans-I/O {@linkcode ServerConnection} of `protocol.ts`, with the limits a
 * public server needs: line length, connection count, idle time, output
 * backpressure and a graceful shutdown.
 *
 * @module
 */

import { MAX_LINE_BYTES } from "./framing.ts";
import {
  type HttpHooks,
  type HttpOptions,
  type HttpSide,
  startHttp,
  type WebSocketGame,
} from "./http.ts";
import { Gate } from "./gate.ts";
import { describeError, type Fields, type Level, type Logger, silentLogger } from "./log.ts";
import { closeQuietly, randomSeed, writeAll } from "./net.ts";
import {
  type CloseReason,
  excerpt,
  formatReply,
  type GameEvent,
  ProtocolError,
  ServerConnection,
} from "./protocol.ts";
import { parseProxyHeader } from "./proxy.ts";
import { isStrategyName, STRATEGIES, type StrategyName } from "./strategies.ts";
import { Rng } from "./strategy.ts";
import { type ErrorKind, ServerMetrics, type TransportName } from "./metrics.ts";
import { serveWorkers } from "./workers.ts";

/**
 * The defaults of {@linkcode serve}, also shown by `serve --help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVER_DEFAULTS } from "./server.ts";
 * assert.equal(SERVER_DEFAULTS.port, 4321);
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
  proxyProtocol: boolean;
}> = Object.freeze({
  hostname: "127.0.0.1",
  port: 4321,
  maxLineBytes: MAX_LINE_BYTES,
  maxConnections: 10_000,
  idleTimeout: 300_000,
  grace: 5_000,
  tcpBacklog: 4096,
  proxyProtocol: false,
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
   * How many TCP connections at once from one client address; one more gets
   * `ERROR Too many connections from your address …` and is closed.
   * @default {a tenth of maxConnections (at least 1); loopback addresses are exempt from the default}
   */
  maxConnectionsPerIp?: number;
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
  /**
   * Also serve HTTP on a port of its own (off when absent): the game page,
   * `/ws` (the line protocol over WebSocket; these connections count against
   * `maxConnections` with the TCP ones), `/metrics` and `/healthz`. See `http.ts`.
   */
  http?: HttpOptions;
  /**
   * Whether connections pass the server's fairness {@linkcode Gate} after each
   * write, so that under load every connection is served before any goes
   * again. Switch it off only to measure what it costs.
   * @default {true}
   */
  fairness?: boolean;
  /**
   * Expect a PROXY protocol header (v1 or v2, `proxy.ts`) as the first bytes
   * of every TCP connection, as a load balancer sends it, and take the
   * client's address from it. A connection without a valid one gets
   * `ERROR <reason>` and is closed. Only for a server reachable through the
   * balancer alone: anyone who can connect directly can claim any address.
   * @default {false}
   */
  proxyProtocol?: boolean;
  /**
   * How many event loops serve the port: above 1, that many Web Workers each
   * run a whole server with its own listener on the same port (`reusePort`,
   * Linux only: elsewhere this throws a `RangeError`), its own event loop and
   * its own gate. `maxConnections` is then a total, split as ceil(total / N)
   * per worker, so with an uneven spread one worker may refuse while another
   * has room. `logger`, `onEvent`, `onConnection` and `onListen` work by
   * message passing; with `http` the main thread serves HTTP and the
   * WebSocket games, and `/metrics` sums every worker's metrics. Needs the
   * `net` unstable flag. See `workers.ts`.
   * @default {1}
   */
  workers?: number;
  /**
   * Bind the listener with `SO_REUSEPORT`, so other listeners can share its
   * port (what `workers` uses). Needs the `net` unstable flag.
   * @default {false}
   */
  reusePort?: boolean;
}

/**
 * A connection was accepted (`open`) or closed (`close`); `connections` is how
 * many are open now. Refused connections (over the limit) are not counted.
 * With `proxyProtocol`, `open` comes once the PROXY header is read (a
 * connection that never sends a valid one has neither event, though it counts
 * in `connections` while it is open).
 *
 * @example
 * ```ts
 * import type { ConnectionEvent } from "./server.ts";
 * const event: ConnectionEvent = {
 *   type: "open",
 *   id: 1,
 *   connections: 1,
 *   remote: "192.0.2.1:5000",
 * };
 * ```
 */
export interface ConnectionEvent {
  /** What happened. */
  readonly type: "open" | "close";
  /** The connection's number, as in the logs. */
  readonly id: number;
  /** How many connections are open now. */
  readonly connections: number;
  /**
   * The client's address as `host:port`: the TCP peer's, or with
   * `proxyProtocol` the one the PROXY header gives.
   */
  readonly remote?: string;
  /** With `workers` above 1: which worker (1..N) has the connection. */
  readonly worker?: number;
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
  /** The HTTP side's address, when the `http` option is given. */
  readonly httpAddr: Deno.NetAddr | undefined;
  /**
   * The server's metrics, as `/metrics` shows them; with `workers` above 1 the
   * main thread's own (its WebSocket games and HTTP requests: `/metrics` adds
   * the workers' to them).
   */
  readonly metrics: ServerMetrics;
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
/** How long a connection the server ends keeps reading (and discarding) before it closes. */
const LINGER_MS = 2_000;
/** How much it discards at most in that time. */
const LINGER_BYTES = 64 * 1024;

/** Who a connection's client is: the TCP peer, or who the PROXY header names. */
interface ClientAddress {
  readonly hostname: string;
  readonly port: number;
}

/** What a {@linkcode Connection} needs to read a PROXY header first. */
interface ProxyOptions {
  /** The peer: the balancer, or the client when no header is expected. */
  peer: ClientAddress;
  /** Read a PROXY header before the first command. */
  proxyProtocol?: boolean;
  /** Called once the client's address is final (after the header, if any). */
  onAddress?: (connection: Connection) => void;
}

const EMPTY = new Uint8Array(0);

/** How each {@linkcode CloseReason} of the core is logged. */
const CLOSE_MESSAGES: Readonly<Record<CloseReason, string>> = {
  line_too_long: "Line too long",
  too_many_errors: "Too many errors",
};

/** Resolves on a later turn of the event loop (after pending I/O callbacks). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function seedOf(options: SessionServeOptions): number {
  return options.seed ?? randomSeed();
}

/**
 * Where a connection is in its life: `reading` (waiting for or handling
 * input) and `writing` (a reply write in flight) serve lines, and `draining`
 * says the server shuts down (end once no game runs); `lingering` only
 * discards input until EOF or the timer; `closed` is the end.
 */
type Phase =
  | { readonly type: "reading"; readonly draining: boolean }
  | { readonly type: "writing"; readonly draining: boolean }
  | { readonly type: "lingering"; readonly timer: ReturnType<typeof setTimeout> }
  | { readonly type: "closed" };

const PHASES = {
  reading: [{ type: "reading", draining: false }, { type: "reading", draining: true }],
  writing: [{ type: "writing", draining: false }, { type: "writing", draining: true }],
} as const;

/** The `reading` phase; one object each way, as a connection changes phase twice per write. */
function readingPhase(draining: boolean): Phase {
  return PHASES.reading[draining ? 1 : 0];
}

/** The `writing` phase, like {@linkcode readingPhase}. */
function writingPhase(draining: boolean): Phase {
  return PHASES.writing[draining ? 1 : 0];
}

/** The text of reply bytes, when they hold `ERROR` lines (for the metrics and the log). */
const replyDecoder = new TextDecoder();
/** The server's own lines (ASCII) as bytes. */
const TEXT_ENCODER = new TextEncoder();

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
  readonly #gate: Gate | undefined;
  #phase: Phase = readingPhase(false);
  /** The last time (server clock) a line was completed. */
  lastActive: number;
  /** The peer. */
  readonly peer: ClientAddress;
  /** The client: the peer, or after a PROXY header the address it gives. */
  remote: ClientAddress;
  /** The bytes of a PROXY header so far, while one is expected. */
  #header: Uint8Array | undefined;
  readonly #onAddress: ((connection: Connection) => void) | undefined;

  readonly #counts: ConnectionCounts | undefined;

  constructor(
    id: number,
    transport: Transport,
    options: SessionServeOptions & ProxyOptions & {
      rng: Rng;
      now: number;
      metrics?: ServerMetrics;
      transport?: TransportName;
      gate?: Gate;
    },
  ) {
    this.id = id;
    this.#transport = transport;
    this.#gate = options.gate;
    this.peer = this.remote = options.peer;
    this.#header = options.proxyProtocol ? new Uint8Array(0) : undefined;
    this.#onAddress = options.onAddress;
    this.#logger = options.logger ?? silentLogger;
    this.lastActive = options.now;
    const logger = this.#logger;
    const onEvent = options.onEvent;
    const counts = options.metrics &&
      new ConnectionCounts(options.metrics, options.transport ?? "tcp", options.strategy);
    this.#counts = counts;
    this.#core = new ServerConnection({
      maxLineBytes: options.maxLineBytes,
      strategy: options.strategy,
      rng: options.rng,
      onEvent: logger.verbose || onEvent || counts
        ? (event) => {
          counts?.game(event, this.#core.guesses);
          onEvent?.(event);
          if (logger.verbose) logGameEvent(logger, id, event);
        }
        : undefined,
    });
  }

  get inGame(): boolean {
    return this.#core.inGame;
  }

  /** Whether the server is ending (or has closed) this connection: it is logged once. */
  get ending(): boolean {
    return this.#ending;
  }

  /** Whether input is only discarded from now on (lingering or closed). */
  get #ending(): boolean {
    return this.#phase.type === "lingering" || this.#phase.type === "closed";
  }

  /** The server drains: end this connection once no game is running. */
  drain(): void {
    const phase = this.#phase;
    if (phase.type === "reading" || phase.type === "writing") {
      this.#phase = phase.type === "reading" ? readingPhase(true) : writingPhase(true);
    }
  }

  /** Runs until the peer leaves, an I/O error, or the end of a linger. Never rejects. */
  async run(clock: () => number): Promise<void> {
    const core = this.#core;
    let buffer = new Uint8Array(MIN_READ_BUFFER);
    let discarded = 0;
    if (this.#header === undefined) this.#onAddress?.(this);
    try {
      for (;;) {
        let n: number | null;
        this.#gate?.startRead();
        try {
          n = await this.#transport.read(buffer);
        } finally {
          // Counted by the gate: a round that sees reads complete holds its waiters while
          // another read is pending (gate.ts).
          this.#gate?.endRead();
        }
        if (n === null) {
          if (this.#header !== undefined) {
            if (this.#header.length > 0 && !this.#ending) {
              await this.#refuseHeader("Incomplete PROXY header: the connection ended");
            }
            break;
          }
          if (!this.#ending) await this.#write(core.end());
          break;
        }
        if (this.#ending) {
          discarded += n;
          if (discarded > LINGER_BYTES) break;
          continue;
        }
        this.#counts?.received.inc(n);
        let input: Uint8Array = buffer, length = n;
        if (this.#header !== undefined) {
          const rest = await this.#readHeader(buffer.subarray(0, n), clock);
          if (rest === undefined || rest.length === 0 || this.#ending) continue;
          input = rest;
          length = rest.length;
        }
        let turn = core.feedBytes(input, length);
        for (;;) {
          if (turn.lines > 0) this.lastActive = clock();
          const output = turn.output;
          if (output.length > 0) {
            const text = turn.errors > 0 ? replyDecoder.decode(output) : undefined;
            if (text !== undefined && this.#logger.verbose) this.#logErrors(text);
            // #send's steps without its async frame (one await per reply on the hot path; a
            // failed write ends the loop, and close() follows from any phase).
            this.#startSend(output, text);
            const written = await this.#transport.write(output);
            if (written < output.length) await writeAll(this.#transport, output.subarray(written));
            this.#endSend();
          }
          // Everyone ready is served before this connection goes on (gate.ts).
          if (this.#gate !== undefined) await this.#gate.pass();
          if (!turn.more || turn.close !== undefined) break;
          // The rest of this read waits one turn of the event loop: other connections go first.
          if (this.#gate === undefined) await nextTurn();
          if (this.#ending) break;
          turn = core.feedBytes(EMPTY);
        }
        if (this.#ending) continue;
        if (turn.close !== undefined) {
          this.#logger.log("warn", `${CLOSE_MESSAGES[turn.close]}, closing`, { conn: this.id });
          await this.#end();
        } else if (this.#draining && !core.inGame) {
          await this.#write(formatReply({ type: "error", message: SHUTTING_DOWN }));
          await this.#end();
        } else if (n === buffer.length && buffer.length < MAX_READ_BUFFER) {
          buffer = new Uint8Array(buffer.length * 2);
        } else if (buffer.length > MIN_READ_BUFFER && n <= buffer.length / 4) {
          // The burst is over: an idle connection should not keep 16 KiB.
          buffer = new Uint8Array(MIN_READ_BUFFER);
        }
      }
    } catch (error) {
      if (!this.#ending) {
        this.#logger.log("debug", "Connection failed", {
          conn: this.id,
          error: describeError(error),
        });
      }
    } finally {
      this.close();
      this.#counts?.closed();
    }
  }

  /**
   * Adds `input` to the PROXY header read so far. Returns the bytes after a
   * complete header (the client's first commands), or undefined while more
   * is needed or once an invalid header was refused.
   */
  async #readHeader(input: Uint8Array, clock: () => number): Promise<Uint8Array | undefined> {
    const previous = this.#header!;
    // A header is at most 536 bytes: the parser decides before this grows further.
    const bytes = previous.length === 0
      ? input.slice()
      : new Uint8Array(previous.length + input.length);
    if (previous.length > 0) {
      bytes.set(previous);
      bytes.set(input, previous.length);
    }
    const verdict = parseProxyHeader(bytes);
    switch (verdict.type) {
      case "need-more":
        this.#header = bytes;
        return undefined;
      case "invalid":
        this.#header = undefined;
        await this.#refuseHeader(verdict.message);
        return undefined;
      case "header": {
        this.#header = undefined;
        this.lastActive = clock();
        const header = verdict.header;
        if (header.type === "proxy") {
          this.remote = { hostname: header.source.hostname, port: header.source.port };
        }
        this.#onAddress?.(this);
        return bytes.subarray(verdict.consumed);
      }
      default: {
        const unknown: never = verdict;
        throw new RangeError(`Unknown verdict ${excerpt(JSON.stringify(unknown))}`);
      }
    }
  }

  /** Answers a missing or invalid PROXY header with `ERROR <message>` and ends. */
  async #refuseHeader(message: string): Promise<void> {
    this.#header = undefined;
    this.#logger.log("warn", "Invalid PROXY header, closing", {
      conn: this.id,
      peer: addressOf(this.peer),
      error: message,
    });
    await this.#write(formatReply({ type: "error", message }), "bad_proxy_header");
    await this.#end();
  }

  /**
   * Ends the connection from the server's side with `ERROR <message>`. When
   * the loop is stuck writing to a peer that does not read, it just closes.
   * Idempotent.
   */
  kick(message: string, kind?: ErrorKind): void {
    const phase = this.#phase;
    switch (phase.type) {
      case "lingering":
      case "closed":
        return;
      case "writing":
        this.close();
        return;
      case "reading":
        // The loop is waiting in read(): from now on it only discards what it reads.
        this.#linger();
        this.#write(formatReply({ type: "error", message }), kind)
          .then(() => this.#transport.closeWrite())
          .catch(() => this.close());
        return;
      default: {
        const unknown: never = phase;
        throw new RangeError(`Unknown phase ${excerpt(JSON.stringify(unknown))}`);
      }
    }
  }

  /** With --verbose: the client's protocol errors (our replies, their excerpts escaped). */
  #logErrors(output: string): void {
    let at = output.indexOf("ERROR ");
    if (at < 0) return;
    let count = 0;
    const first = output.slice(at + 6, output.indexOf("\n", at));
    for (; at >= 0; at = output.indexOf("ERROR ", at + 6)) count++;
    this.#logger.log("debug", "Protocol error", {
      conn: this.id,
      reply: excerpt(first, 120),
      ...(count > 1 ? { count } : {}),
    });
  }

  get #draining(): boolean {
    const phase = this.#phase;
    return (phase.type === "reading" || phase.type === "writing") && phase.draining;
  }

  /** Stops replying; the loop discards input until EOF or the deadline. */
  #linger(): void {
    if (this.#ending) return;
    this.#phase = { type: "lingering", timer: setTimeout(() => this.close(), LINGER_MS) };
  }

  /** Half-closes after the last reply and lingers. */
  async #end(): Promise<void> {
    this.#linger();
    await this.#transport.closeWrite();
  }

  close(): void {
    const phase = this.#phase;
    if (phase.type === "closed") return;
    if (phase.type === "lingering") clearTimeout(phase.timer);
    this.#phase = { type: "closed" };
    closeQuietly(this.#transport);
  }

  /**
   * Writes the server's own text (an `ERROR` line, the end of a session);
   * `kind` names the one `ERROR` line it holds, for the metrics.
   */
  #write(text: string, kind?: ErrorKind): Promise<void> {
    if (text === "") return Promise.resolve();
    return this.#send(TEXT_ENCODER.encode(text), text, kind);
  }

  /**
   * Writes `bytes` whole, counted (see `ConnectionCounts.sent`), in the
   * `writing` phase while it waits. A lingering connection writes its last
   * line without changing phase.
   */
  async #send(bytes: Uint8Array, text: string | undefined, kind?: ErrorKind): Promise<void> {
    this.#startSend(bytes, text, kind);
    try {
      const written = await this.#transport.write(bytes);
      if (written < bytes.length) await writeAll(this.#transport, bytes.subarray(written));
    } finally {
      this.#endSend();
    }
  }

  /** The first half of {@linkcode Connection.#send}: counted, and the `writing` phase. */
  #startSend(bytes: Uint8Array, text: string | undefined, kind?: ErrorKind): void {
    this.#counts?.sent(bytes.length, text, kind);
    const before = this.#phase;
    if (before.type === "reading") this.#phase = writingPhase(before.draining);
  }

  /** The second half of {@linkcode Connection.#send}: back to `reading` (draining or not). */
  #endSend(): void {
    const after = this.#phase;
    if (after.type === "writing") this.#phase = readingPhase(after.draining);
  }
}

/** One connection's share of the {@linkcode ServerMetrics}: bytes, errors, games. */
class ConnectionCounts {
  readonly #metrics: ServerMetrics;
  readonly #strategy: { strategy: string };
  readonly received: { inc(by?: number): void };
  readonly #sent: { inc(by?: number): void };
  readonly #started: { inc(by?: number): void };
  readonly #finished: { inc(by?: number): void };
  readonly #abandoned: { inc(by?: number): void };
  #playing = false;
  #solved = false;

  constructor(metrics: ServerMetrics, transport: TransportName, strategy: StrategyName = "random") {
    this.#metrics = metrics;
    this.#strategy = { strategy };
    this.received = metrics.bytesReceived.bind({ transport });
    this.#sent = metrics.bytesSent.bind({ transport });
    this.#started = metrics.gamesStarted.bind(this.#strategy);
    this.#finished = metrics.gamesFinished.bind(this.#strategy);
    this.#abandoned = metrics.gamesAbandoned.bind(this.#strategy);
  }

  /**
   * Replies were sent: `bytes` of them, `text` their text when it may hold
   * `ERROR` lines (the core's, counted by their messages), or `kind` for the
   * one `ERROR` line the server itself wrote.
   */
  sent(bytes: number, text: string | undefined, kind?: ErrorKind): void {
    this.#sent.inc(bytes);
    if (kind !== undefined) this.#metrics.protocolErrors.inc({ kind });
    else if (text !== undefined) this.#metrics.countErrors(text);
  }

  /** A game event; `guesses` is the running game's count at that moment. */
  game(event: GameEvent, guesses: number): void {
    switch (event.type) {
      case "start":
        this.#playing = true;
        this.#solved = false;
        this.#started.inc();
        return;
      case "report":
        if (event.decision === "Correct" && this.#playing && !this.#solved) {
          this.#solved = true;
          this.#finished.inc();
          this.#metrics.guessesPerGame.observe(guesses, this.#strategy);
        }
        return;
      case "end":
        this.closed();
        return;
      default: {
        const unknown: never = event;
        throw new RangeError(`Unknown event ${excerpt(JSON.stringify(unknown))}`);
      }
    }
  }

  /** The game (if any) ended: abandoned unless it was solved. */
  closed(): void {
    if (this.#playing && !this.#solved) this.#abandoned.inc();
    this.#playing = false;
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
      logger.log(
        "debug",
        `Game ended after ${event.guesses} guess${event.guesses === 1 ? "" : "es"}`,
        {
          conn,
        },
      );
      return;
    default: {
      const unknown: never = event;
      throw new RangeError(`Unknown event ${excerpt(JSON.stringify(unknown))}`);
    }
  }
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:4321`). */
function addressOf(addr: Deno.Addr | ClientAddress): string {
  if ("transport" in addr && addr.transport !== "tcp" && addr.transport !== "udp") {
    return addr.transport;
  }
  const { hostname, port } = addr as ClientAddress;
  const host = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  return `${host}:${port}`;
}

/** `host:port` (as the HTTP side gives it) back into its parts; `unknown` has port 0. */
function parseAddress(text: string): ClientAddress {
  const colon = text.lastIndexOf(":");
  const port = Number(text.slice(colon + 1));
  return colon < 0 || !Number.isSafeInteger(port)
    ? { hostname: text, port: 0 }
    : { hostname: text.slice(0, colon), port };
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
  if ((options.workers ?? 1) !== 1) return serveWorkers(options, SERVER_DEFAULTS);
  return startLoop(options).server as GuessServer;
}

/**
 * The main thread's loop of `serve({ workers, http })` (see `workers.ts`):
 * {@linkcode serve}'s connection loop without a TCP listener or an HTTP side,
 * for the WebSocket games that the main thread's HTTP side hands it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WebSocketLoop } from "./server.ts";
 * const loop: Pick<WebSocketLoop, "connections"> = { connections: 0 };
 * assert.equal(loop.connections, 0);
 * ```
 */
export interface WebSocketLoop {
  /** Resolves once the loop stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** How many WebSocket connections it has open. */
  readonly connections: number;
  /** Its metrics: the WebSocket connections and their games. */
  readonly metrics: ServerMetrics;
  /** Takes an upgraded WebSocket as a game connection, or refuses it with `ERROR`. */
  readonly adopt: HttpHooks["adopt"];
  /** Drains it with the grace time, as {@linkcode GuessServer.shutdown}. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Starts a {@linkcode WebSocketLoop}: what `workers.ts` runs on the main
 * thread with `http`. A WebSocket is refused while this loop's connections
 * plus `elsewhere()` (the workers' open connections) reach `maxConnections`.
 *
 * @param options The options of `serve()`; `http`, `workers` and the TCP ones are ignored.
 * @param elsewhere How many connections the rest of the process holds.
 * @returns The loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveWebSockets } from "./server.ts";
 * const loop = serveWebSockets({ fairness: false }, () => 0);
 * assert.equal(loop.connections, 0);
 * await loop.shutdown();
 * ```
 */
export function serveWebSockets(options: ServeOptions, elsewhere: () => number): WebSocketLoop {
  const { server, adopt } = startLoop({ ...options, http: undefined }, elsewhere);
  return {
    finished: server.finished,
    get connections() {
      return server.connections;
    },
    metrics: server.metrics,
    adopt,
    shutdown: server.shutdown,
  };
}

/**
 * One event loop's server: {@linkcode serve}'s, or without `elsewhere` given
 * (the TCP listener and the HTTP side) {@linkcode serveWebSockets}'s.
 */
function startLoop(
  options: ServeOptions,
  elsewhere?: () => number,
): {
  server: Omit<GuessServer, "addr"> & { addr: Deno.NetAddr | undefined };
  adopt: HttpHooks["adopt"];
} {
  const settings = { ...SERVER_DEFAULTS, ...withoutUndefined(options) };
  const logger = options.logger ?? silentLogger;
  // Every option is checked before the listener opens, so a bad one leaks nothing.
  const keys = [
    "maxLineBytes",
    "maxConnections",
    "idleTimeout",
    "grace",
    "tcpBacklog",
  ] as const;
  const perIp = options.maxConnectionsPerIp;
  if (perIp !== undefined && (!Number.isSafeInteger(perIp) || perIp < 1)) {
    throw new RangeError(
      `Option maxConnectionsPerIp must be an integer of at least 1, got ${perIp}`,
    );
  }
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
  const http = options.http;
  const rng = new Rng(seedOf(options));
  const metrics = new ServerMetrics();
  const started = performance.now();
  const listener = elsewhere ? undefined : Deno.listen({
    hostname: settings.hostname,
    port: settings.port,
    tcpBacklog: settings.tcpBacklog,
    reusePort: options.reusePort,
  });
  const addr = listener?.addr;
  let gate: Gate | undefined;
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
      if (now - connection.lastActive > settings.idleTimeout && !connection.ending) {
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

  /** Runs one accepted connection, TCP or WebSocket, in the shared set. */
  const perClient = new Map<string, number>();
  const explicitPerClient = options.maxConnectionsPerIp;
  const defaultPerClient = Math.max(1, Math.floor(settings.maxConnections / 10));
  /** An explicit limit applies to every address; the default spares loopback (a local proxy, tools). */
  const perClientLimit = (client: string): number =>
    explicitPerClient ?? (isLoopback(client) ? Infinity : defaultPerClient);
  const perClientLog = new RateLimitedLog(
    logger,
    "warn",
    "Too many connections from one address, refusing",
  );
  /** Connections whose `open` was announced, so that only they announce `close`. */
  const announced = new Set<Connection>();
  /**
   * A connection's client is known: at once, or with `proxyProtocol` after
   * its PROXY header. A limit per client address belongs here, on
   * `connection.remote`, not on the TCP peer (which is then the balancer).
   */
  const opened = (kind: TransportName) => (connection: Connection): void => {
    if (kind === "tcp") {
      // Over its address's limit: refused like a busy server (ERROR, lingering close), unannounced.
      const client = clientAddress(connection);
      const fromClient = perClient.get(client) ?? 0;
      if (fromClient >= perClientLimit(client)) {
        metrics.connectionsRefused.inc({ transport: "tcp" });
        perClientLog.note(undefined, {
          remote: addressOf(connection.remote),
          connections: fromClient,
        });
        connection.kick(perClientMessage(fromClient), "server_busy");
        return;
      }
      perClient.set(client, fromClient + 1);
    }
    announced.add(connection);
    const remote = addressOf(connection.remote);
    const via = connection.remote === connection.peer ? undefined : addressOf(connection.peer);
    logger.log("debug", "Connection opened", {
      conn: connection.id,
      remote,
      via,
      transport: kind,
    });
    options.onConnection?.({
      type: "open",
      id: connection.id,
      connections: connections.size,
      remote,
    });
  };
  const open = (
    transport: Transport,
    peer: ClientAddress,
    kind: TransportName,
    game: WebSocketGame,
    proxyProtocol = false,
  ): Connection => {
    const connection = new Connection(nextId++, transport, {
      ...options,
      strategy: game.strategy ?? options.strategy,
      maxLineBytes: settings.maxLineBytes,
      rng: game.seed === undefined ? rng.fork() : new Rng(game.seed),
      now,
      metrics,
      transport: kind,
      gate,
      peer,
      proxyProtocol,
      onAddress: opened(kind),
    });
    connections.add(connection);
    gate?.activity();
    metrics.connectionsAccepted.inc({ transport: kind });
    metrics.connectionsOpen.inc({ transport: kind });
    connection.run(clock).finally(() => {
      connections.delete(connection);
      metrics.connectionsOpen.inc({ transport: kind }, -1);
      if (announced.delete(connection)) {
        if (kind === "tcp") {
          const client = clientAddress(connection);
          const left = perClient.get(client)! - 1;
          if (left === 0) perClient.delete(client);
          else perClient.set(client, left);
        }
        logger.log("debug", "Connection closed", { conn: connection.id });
        options.onConnection?.({
          type: "close",
          id: connection.id,
          connections: connections.size,
          remote: addressOf(connection.remote),
        });
      }
      checkFinished();
    });
    return connection;
  };

  /** Open connections against `maxConnections`: this loop's, and the rest of the process's. */
  const held = () => connections.size + (elsewhere?.() ?? 0);
  const adopt: HttpHooks["adopt"] = (socket, game, remote) => {
    if (stopping || held() >= settings.maxConnections) {
      metrics.connectionsRefused.inc({ transport: "websocket" });
      const message = stopping ? SHUTTING_DOWN : busyMessage(settings.maxConnections);
      metrics.protocolErrors.inc({ kind: stopping ? "shutting_down" : "server_busy" });
      const refusal = refuseWebSocket(socket, message);
      refusals.add(refusal);
      refusal.finally(() => refusals.delete(refusal));
      return;
    }
    const transport = webSocketTransport(socket, settings.maxLineBytes);
    const connection = open(transport, parseAddress(remote), "websocket", game);
    transport.onBadMessage = (message) => {
      logger.log("warn", `${message}, closing`, { conn: connection.id });
      connection.kick(`${message}, closing`);
    };
  };

  let httpSide: HttpSide | undefined;
  if (http) {
    try {
      httpSide = startHttp(http, {
        metrics: () => metrics.render(Math.round(performance.now() - started) / 1000),
        healthy: () => !stopping,
        capacity: () => settings.maxConnections - held(),
        onResponse: (status) => metrics.httpRequests.inc({ code: String(status) }),
        adopt,
      });
    } catch (error) {
      // The HTTP port is taken, say: do not leave the game port open behind the error.
      listener?.close();
      clearInterval(sweeper);
      throw error;
    }
  }

  // One gate per server, i.e. per event loop; accepting starts once it is open
  // (opened after everything that can throw, so that a missing permission or a
  // port in use fails there first and leaks nothing).
  const gateOpening = options.fairness === false ? Promise.resolve() : Gate.open().then(
    (opened) => void (gate = opened),
    (error) => logger.log("warn", "No fairness gate", { error: describeError(error) }),
  );
  const refusedLog = new RateLimitedLog(logger, "warn", "Server busy, refusing connection");
  const acceptSkips = new RateLimitedLog(logger, "debug", "Accept skipped a connection");
  const accepting = listener === undefined ? gateOpening : (async () => {
    await gateOpening;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping) return;
        if (!isResourceError(error)) {
          // One peer's connection went away in the queue (a reset, say): skip it at once.
          acceptSkips.note(error);
          continue;
        }
        // Out of file descriptors or memory: say so, back off briefly, keep serving.
        logger.log("error", "Accept failed", { error: describeError(error) });
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      if (stopping) {
        metrics.connectionsRefused.inc({ transport: "tcp" });
        conn.close();
        continue;
      }
      if (connections.size >= settings.maxConnections) {
        metrics.connectionsRefused.inc({ transport: "tcp" });
        metrics.protocolErrors.inc({ kind: "server_busy" });
        refusedLog.note(undefined, {
          remote: addressOf(conn.remoteAddr),
          connections: connections.size,
        });
        const refusal = refuse(conn, busyMessage(settings.maxConnections));
        refusals.add(refusal);
        refusal.finally(() => refusals.delete(refusal));
        continue;
      }
      // Replies are tiny and each one is awaited by its client: never hold one for Nagle.
      conn.setNoDelay(true);
      open(conn, conn.remoteAddr, "tcp", {}, settings.proxyProtocol);
    }
  })();

  const finished = Promise.all([accepting, closedPromise]).then(async () => {
    clearTimeout(graceTimer);
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all(refusals);
    // /healthz answered 503 through the drain; now the HTTP side goes too.
    await httpSide?.shutdown();
    await gate?.close();
    logger.log("info", "Server stopped");
  });

  const shutdown = (): Promise<void> => {
    if (stopping) return finished;
    stopping = true;
    clearInterval(sweeper);
    logger.log("info", "Shutting down", {
      connections: connections.size,
      grace_s: settings.grace / 1000,
    });
    listener?.close();
    for (const connection of connections) {
      if (connection.inGame) connection.drain();
      else connection.kick(SHUTTING_DOWN);
    }
    if (connections.size > 0) {
      graceTimer = setTimeout(() => {
        for (const connection of connections) connection.kick(SHUTTING_DOWN);
      }, settings.grace);
    }
    checkFinished();
    return finished;
  };

  const onAbort = () => void shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) shutdown();
  if (addr === undefined) {
    // The WebSocket loop of workers.ts: its HTTP side is announced there.
  } else if (options.onListen) options.onListen(addr);
  else {
    logger.log(
      "info",
      `Listening on ${addressOf(addr)}`,
      logger.format === "json" ? { host: addr.hostname, port: addr.port } : {},
    );
  }
  if (httpSide && !http?.onListen) logger.log("info", `HTTP on ${addressOf(httpSide.addr)}`);

  const server = {
    addr,
    finished,
    get connections() {
      return connections.size;
    },
    httpAddr: httpSide?.addr,
    metrics,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
  return { server, adopt };
}

/** How long the accept loop waits after a resource error (EMFILE and the like). */
const ACCEPT_BACKOFF_MS = 100;

/** The accept errors that mean the process is out of something, not that one peer left. */
const RESOURCE_ERRORS: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/**
 * Whether an accept failure is resource exhaustion (back off) rather than one
 * connection's failure (ENOTCONN, ECONNABORTED, ECONNRESET, EPROTO…: skip it).
 */
function isResourceError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return RESOURCE_ERRORS.has(code);
  // No code: recognise the OS error number in the message.
  const errno = /\(os error (\d+)\)/.exec(error.message)?.[1];
  return errno === "24" || errno === "23" || errno === "105" || errno === "12";
}

/**
 * One log line that may repeat often (a flood of resets or refusals): the
 * first in a second is logged, the rest are counted and summarised in the
 * next line as `N more in the last second`.
 */
class RateLimitedLog {
  readonly #logger: Logger;
  readonly #level: Level;
  readonly #message: string;
  #windowStart = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, level: Level, message: string) {
    this.#logger = logger;
    this.#level = level;
    this.#message = message;
  }

  note(error?: unknown, fields: Fields = {}): void {
    if (this.#level === "debug" && !this.#logger.verbose) return;
    const now = performance.now();
    if (now - this.#windowStart < 1_000) {
      this.#suppressed++;
      return;
    }
    const more = this.#suppressed;
    this.#windowStart = now;
    this.#suppressed = 0;
    this.#logger.log(this.#level, this.#message, {
      ...fields,
      ...(error === undefined ? {} : { error: describeError(error) }),
      ...(more > 0 ? { more_in_last_second: more } : {}),
    });
  }
}

/** What a connection over `--max-connections` is told. */
function busyMessage(limit: number): string {
  return `Server busy: ${limit} connection${limit === 1 ? "" : "s"}, try again later`;
}

/** What a connection over `--max-connections-per-ip` is told. */
function perClientMessage(limit: number): string {
  return `Too many connections from your address: ${limit}, try again later`;
}

/** The reply to every connection ended by a shutdown. */
const SHUTTING_DOWN = "Server shutting down";

/**
 * The client a TCP connection counts against for `maxConnectionsPerIp`: the
 * address a PROXY header names, else the TCP peer's.
 */
function clientAddress(connection: Connection): string {
  return connection.remote.hostname;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

/**
 * Refuses a connection with `ERROR <message>` and a lingering close, like
 * every other end the server makes: half-close, then read and discard (up to
 * `LINGER_BYTES` or `LINGER_MS`) until the client closes, so what the client
 * already sent does not draw a reset that destroys the line.
 */
async function refuse(conn: Deno.Conn, message: string): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    await writeAll(conn, new TextEncoder().encode(formatReply({ type: "error", message })));
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    for (let discarded = 0; discarded <= LINGER_BYTES;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      discarded += n;
    }
  } catch {
    // The peer went away, or the linger time is over.
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
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
 * import assert from "node:assert/strict";
 * import { serveStreams } from "./server.ts";
 * const input = ReadableStream.from([new TextEncoder().encode("PARAMS 7 7\nNUMBER\n")]);
 * const chunks: Uint8Array[] = [];
 * await serveStreams(input, new WritableStream({ write: (chunk) => void chunks.push(chunk) }));
 * assert.equal(new TextDecoder().decode(chunks[0]), "7\n");
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
    peer: { hostname: "stream", port: 0 },
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

/** The most bytes of received messages a WebSocket connection holds before the core takes them. */
const MAX_WS_QUEUED = 64 * 1024;
/** The most reply bytes waiting in a WebSocket's send buffer: a peer that does not read is closed. */
const MAX_WS_BUFFERED = 64 * 1024;

/**
 * A WebSocket as a {@linkcode Transport}: one text message is one command line
 * (the newline is added here), each reply line is one text message. What the
 * line protocol cannot carry is refused through `onBadMessage` (the connection
 * answers `ERROR …` and closes): a binary message, a message holding CR or LF,
 * more than `MAX_WS_QUEUED` bytes waiting. A message over the line limit is
 * handed to the core cut to one byte over it, so the core answers it exactly
 * as it answers a long line on TCP.
 */
function webSocketTransport(
  socket: WebSocket,
  maxLineBytes: number,
): Transport & { onBadMessage: (message: string) => void } {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  // Lines, and the refusal of a bad message in its place in the order.
  const queue: (Uint8Array | { readonly bad: string })[] = [];
  let queued = 0;
  let ended = false;
  let refused = false;
  let wake: (() => void) | undefined;
  let tail = "";
  const limit = Math.max(MAX_WS_QUEUED, 2 * (maxLineBytes + 1));
  const transport = {
    onBadMessage: (_message: string) => {},
    async read(buffer: Uint8Array): Promise<number | null> {
      while (queue.length === 0) {
        if (ended) return null;
        await new Promise<void>((resolve) => wake = resolve);
      }
      const first = queue[0];
      if ("bad" in first) {
        // The lines before it are handled: refuse it now (the loop only discards from here on).
        transport.onBadMessage(first.bad);
        queue.length = 0;
        return 0;
      }
      // Pipelining: as many waiting lines as fit, so their replies go out together.
      let n = 0;
      while (queue.length > 0 && n < buffer.length) {
        const head: Uint8Array | { readonly bad: string } = queue[0];
        if ("bad" in head) break;
        const take = Math.min(buffer.length - n, head.length);
        buffer.set(head.subarray(0, take), n);
        n += take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      queued -= n;
      return n;
    },
    write(bytes: Uint8Array): Promise<number> {
      if (socket.readyState !== WebSocket.OPEN) {
        return Promise.reject(new ProtocolError("WebSocket is closed"));
      }
      if (socket.bufferedAmount > MAX_WS_BUFFERED) {
        return Promise.reject(new ProtocolError("WebSocket peer does not read its replies"));
      }
      const lines = (tail + decoder.decode(bytes)).split("\n");
      tail = lines.pop()!;
      for (const line of lines) socket.send(line);
      return Promise.resolve(bytes.length);
    },
    closeWrite(): Promise<void> {
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      return Promise.resolve();
    },
    close(): void {
      end();
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
    },
  };
  const end = () => {
    ended = true;
    wake?.();
  };
  const push = (bytes: Uint8Array) => {
    queue.push(bytes);
    queued += bytes.length;
    wake?.();
  };
  const refuse = (message: string) => {
    if (refused) return;
    refused = true;
    queue.push({ bad: message });
    wake?.();
  };
  socket.onmessage = (event: MessageEvent) => {
    if (refused || ended) return;
    const data = event.data;
    if (typeof data !== "string") {
      return refuse("Binary message: send each command as a text message");
    }
    if (/[\r\n]/.test(data)) {
      return refuse("Message holds CR or LF: send one command per message, without a newline");
    }
    // Cut to one byte over the limit: the core then answers "Line too long" and closes.
    const bytes = encoder.encode(
      data.length > 4 * maxLineBytes ? data.slice(0, maxLineBytes + 1) : data,
    );
    if (bytes.length > maxLineBytes) return push(bytes.subarray(0, maxLineBytes + 1));
    if (queued + bytes.length + 1 > limit) {
      return refuse(`Too many messages waiting: the limit is ${limit} bytes`);
    }
    const line = new Uint8Array(bytes.length + 1);
    line.set(bytes);
    line[bytes.length] = 0x0a;
    push(line);
  };
  socket.onclose = end;
  socket.onerror = end;
  return transport;
}

/** Answers a WebSocket over the limit (or during shutdown) with `ERROR <message>` and closes it. */
function refuseWebSocket(socket: WebSocket, message: string): Promise<void> {
  return new Promise<void>((resolve) => {
    // A peer that never completes the close handshake: give up after the linger time.
    const timer = setTimeout(() => done(), LINGER_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.onclose = done;
    socket.onerror = done;
    socket.onopen = () => {
      socket.send(formatReply({ type: "error", message }).slice(0, -1));
      socket.close(1000);
    };
  });
}
