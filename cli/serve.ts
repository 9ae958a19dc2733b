/**
 * `guess serve`: runs the server until SIGINT or SIGTERM, then drains it.
 *
 * @module
 */

import { checkOrigin, HTTP_DEFAULTS, type HttpOptions } from "../http.ts";
import { createLogger, errorMessage, LOG_FORMATS, type LogFormat } from "../log.ts";
import { serve, SERVER_DEFAULTS } from "../server.ts";
import { STRATEGIES } from "../strategies.ts";
import { MAX_WORKERS } from "../workers.ts";
import { integer, type Io, onOff, parse, seed, strategy, UsageError } from "./args.ts";

/**
 * The help of `guess serve`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVE_HELP } from "./serve.ts";
 * assert.match(SERVE_HELP, /--max-connections/);
 * ```
 */
export const SERVE_HELP = `Usage: guess serve [options]

Runs the guess server; needs --allow-net (deno run --allow-net main.ts serve).
Logs go to stderr, starting with 'Listening on HOST:PORT'.
SIGINT or SIGTERM stops it gracefully (exit 0); a second SIGINT exits at once.

Options:
  --hostname H          Address to listen on (default ${SERVER_DEFAULTS.hostname})
  --port P              Port, 0 for any free one (default ${SERVER_DEFAULTS.port})
  --strategy S          How to guess: ${STRATEGIES.join(", ")} (default random)
  --seed N              Seed for the random guesses, to replay games (default: random)
  --max-line-bytes N    Longest command line; longer gets ERROR and a close (default ${SERVER_DEFAULTS.maxLineBytes})
  --max-connections N   Connections at once; one more gets ERROR Server busy (default ${SERVER_DEFAULTS.maxConnections})
  --max-connections-per-ip N
                        Connections at once from one client address (default: a tenth of
                        --max-connections, at least 1)
  --idle-timeout S      Seconds without a complete line before ERROR Idle timeout (default ${
  SERVER_DEFAULTS.idleTimeout / 1000
})
  --grace S             Seconds games get to finish on shutdown (default ${
  SERVER_DEFAULTS.grace / 1000
})
  --fairness on|off     Serve every ready connection before any goes again (default on;
                        off only to measure what it costs)
  --workers N|auto      Event loops (Web Workers, each its own listener on the port; Linux only
                        above 1); auto = the number of cores. --max-connections is then a
                        total, ceil(total/N) per worker (default 1, at most ${MAX_WORKERS});
                        above 1 also needs --allow-read (the workers' module is read as a
                        file); with --http, the main thread serves HTTP and /ws, /metrics sums them
  --proxy-protocol      Expect a PROXY protocol header (v1 or v2) first on every TCP connection,
                        as HAProxy's send-proxy-v2 sends it; log the client it names
  --log-format F        ${LOG_FORMATS.join(" or ")} (default text)
  --verbose             Also log connections and each game's 'Server: 4 is Unsure' lines
  --http [HOST:]PORT    Also serve HTTP (off by default; host 127.0.0.1 unless given): the game
                        page at /, the protocol over WebSocket at /ws, /metrics, /healthz
  --http-allow-origin O Another origin (scheme://host[:port]) whose pages may use /ws; repeatable
  -h, --help            Show this help
`;

/**
 * Runs `guess serve` until the server has stopped.
 *
 * @param args The arguments after `serve`.
 * @param io Where the logs go (`err`) and the help (`out`).
 * @returns The exit status: 0 once the server stopped.
 * @throws {UsageError} On a bad command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveCommand } from "./serve.ts";
 * const lines: string[] = [];
 * assert.equal(await serveCommand(["--help"], { out: (l) => lines.push(l), err: () => {} }), 0);
 * assert.match(lines[0], /^Usage: guess serve/);
 * ```
 */
export async function serveCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("serve", args, {
    hostname: { type: "string" },
    port: { type: "string" },
    strategy: { type: "string" },
    seed: { type: "string" },
    "max-line-bytes": { type: "string" },
    "max-connections": { type: "string" },
    "max-connections-per-ip": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    fairness: { type: "string" },
    workers: { type: "string" },
    "log-format": { type: "string" },
    "proxy-protocol": { type: "boolean" },
    verbose: { type: "boolean" },
    http: { type: "string" },
    "http-allow-origin": { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  const http = httpOption(values.http, values["http-allow-origin"]);
  const fairness = onOff("serve", "fairness", values.fairness);
  const workers = workersOption(values.workers);
  const format = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `--log-format must be ${LOG_FORMATS.join(" or ")}, got "${format}"`,
      "serve",
    );
  }
  const optional = (name: keyof typeof values, min: number, max: number, scale = 1) => {
    const text = values[name];
    return typeof text === "string" ? integer("serve", name, text, min, max) * scale : undefined;
  };
  const logger = createLogger({
    format: format as LogFormat,
    verbose: values.verbose,
    write: io.err,
  });
  if (values.hostname === "") throw new UsageError("--hostname must not be empty", "serve");
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    if (signal === "SIGINT" && ++interrupts > 1) {
      logger.log("warn", "Second SIGINT, exiting now");
      Deno.exit(130);
    }
    logger.log("info", `Received ${signal}`);
    controller.abort();
  };
  // Installed before the server announces itself: a signal right after "Listening on" is ours.
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  try {
    const hostname = values.hostname ?? SERVER_DEFAULTS.hostname;
    const port = optional("port", 0, 65535) ?? SERVER_DEFAULTS.port;
    const server = listening(hostname, port, http, () =>
      serve({
        hostname,
        port,
        strategy: strategy("serve", values.strategy, "random"),
        seed: seed("serve", values.seed),
        maxLineBytes: optional("max-line-bytes", 16, 1 << 20),
        maxConnections: optional("max-connections", 1, 1_000_000),
        maxConnectionsPerIp: optional("max-connections-per-ip", 1, 1_000_000),
        idleTimeout: optional("idle-timeout", 1, 86_400, 1000),
        grace: optional("grace", 0, 3_600, 1000),
        fairness,
        proxyProtocol: values["proxy-protocol"],
        workers,
        http,
        logger,
        signal: controller.signal,
      }));
    await server.finished;
  } catch (error) {
    // With --log-format json every line on stderr is JSON, the fatal one too.
    if (format !== "json" || error instanceof UsageError) throw error;
    logger.log("error", errorMessage(error), { fatal: true });
    return 1;
  } finally {
    for (const remove of handlers) remove();
  }
  return 0;
}

/** `--workers N|auto`: auto is the number of cores (at most {@linkcode MAX_WORKERS}). */
function workersOption(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === "auto") return Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency));
  return integer("serve", "workers", text, 1, MAX_WORKERS);
}

/** `--http [HOST:]PORT` and `--http-allow-origin`, as the `http` option of `serve()`. */
/**
 * The address could not be listened on: it is taken, or not this machine's.
 * The message names the address and what to do; the runtime's error is the
 * `cause`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ListenError } from "./serve.ts";
 * const error = new ListenError("Cannot listen on 127.0.0.1:4321: address already in use");
 * assert.equal(error.name, "ListenError");
 * ```
 */
export class ListenError extends Error {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }
}

function where(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** Runs `start`, turning "address already in use" into a line that names the address. */
function listening<T>(
  hostname: string,
  port: number,
  http: HttpOptions | undefined,
  start: () => T,
): T {
  try {
    return start();
  } catch (cause) {
    if (!(cause instanceof Deno.errors.AddrInUse)) throw cause;
    // serve() listens for the game first, so with --http either could be the taken one.
    let tcpFree = http !== undefined;
    if (tcpFree) {
      try {
        Deno.listen({ hostname, port }).close();
      } catch {
        tcpFree = false;
      }
    }
    const [address, option] = tcpFree && http
      ? [where(http.hostname ?? HTTP_DEFAULTS.hostname, http.port ?? HTTP_DEFAULTS.port), "--http"]
      : [where(hostname, port), "--port"];
    throw new ListenError(
      `Cannot listen on ${address}: address already in use; pick another ${option}, ` +
        `or ${option} 0 for any free one`,
      { cause },
    );
  }
}

function httpOption(
  address: string | undefined,
  origins: string[] | undefined,
): HttpOptions | undefined {
  if (address === undefined) {
    if (origins !== undefined) throw new UsageError("--http-allow-origin needs --http", "serve");
    return undefined;
  }
  const match = /^(?:(?:\[([^\]]+)\]|([^:\[\]]+)):)?([0-9]+)$/.exec(address);
  if (!match) throw new UsageError(`--http needs [HOST:]PORT, got "${address}"`, "serve");
  const allowOrigins = (origins ?? []).map((origin) => {
    try {
      return checkOrigin(origin);
    } catch (cause) {
      throw new UsageError(`--http-allow-origin: ${errorMessage(cause)}`, "serve", { cause });
    }
  });
  return {
    hostname: match[1] ?? match[2] ?? HTTP_DEFAULTS.hostname,
    port: integer("serve", "http", match[3], 0, 65535),
    allowOrigins,
  };
}
