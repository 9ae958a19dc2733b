/**
 * The `guess` command line: `serve` runs the server, `play` plays the seed's
 * demo against an in-process server (no permissions) or a remote one.
 * `guess --help` lists the commands; `guess <command> --help` the options.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import { playHuman } from "./human.ts";
import { createLogger, LOG_FORMATS } from "./log.ts";
import { DEMO_GAMES, type GameSpec, openInProcess, openRemote, playDemo } from "./play.ts";
import { parseInteger, ProtocolError, ServerError } from "./protocol.ts";
import type { ServerWorkerReply, ServerWorkerRequest } from "./bench/server_worker.ts";
import { serve, SERVER_DEFAULTS } from "./server.ts";
import { formatSummary, playGames, summarize, summaryJson } from "./stats.ts";
import { STRATEGIES, type StrategyName } from "./strategy.ts";

/**
 * The version printed by `--version`, from `deno.json`.
 *
 * @example
 * ```ts
 * import { VERSION } from "./main.ts";
 * console.assert(/^\d+\.\d+\.\d+$/.test(VERSION));
 * ```
 */
export const VERSION: string = denoJson.version;

/**
 * A bad command line: printed with a hint, exit status 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./main.ts";
 * const error = new UsageError("Unknown command \"fly\"", "guess");
 * console.assert(error.command === "guess");
 * ```
 */
export class UsageError extends Error {
  /** Whose `--help` to point at. */
  readonly command: string;

  /**
   * @param message What is wrong, starting uppercase, no trailing period.
   * @param command Whose `--help` to point at.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, command: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
    this.command = command;
  }
}

const MAIN_HELP =
  `guess ${VERSION}: the number-guessing game of Effective Python (Item 61), over TCP

Usage:
  guess serve [options]   Run the server (needs --allow-net)
  guess play [options]    Play the seed's demo (in-process server: no permissions needed)
  guess bench [options]   Measure a server under load (needs --allow-net, and --allow-read
                          without --connect)
  guess --help | --version

Run 'guess <command> --help' for a command's options.
`;

const SERVE_HELP = `Usage: guess serve [options]

Runs the guess server. Logs go to stderr, starting with 'Listening on HOST:PORT'.
SIGINT or SIGTERM stops it gracefully (exit 0); a second SIGINT exits at once.

Options:
  --hostname H          Address to listen on (default ${SERVER_DEFAULTS.hostname})
  --port P              Port, 0 for any free one (default ${SERVER_DEFAULTS.port})
  --strategy S          How to guess: ${STRATEGIES.join(", ")} (default random)
  --seed N              Seed for the random guesses, to replay games (default: random)
  --max-line-bytes N    Longest command line; longer gets ERROR and a close (default ${SERVER_DEFAULTS.maxLineBytes})
  --max-connections N   Connections at once; one more gets ERROR Server busy (default ${SERVER_DEFAULTS.maxConnections})
  --idle-timeout S      Seconds without a complete line before ERROR Idle timeout (default ${
  SERVER_DEFAULTS.idleTimeout / 1000
})
  --grace S             Seconds games get to finish on shutdown (default ${
  SERVER_DEFAULTS.grace / 1000
})
  --log-format F        ${LOG_FORMATS.join(" or ")} (default text)
  --verbose             Also log connections and each game's 'Server: 4 is Unsure' lines
  -h, --help            Show this help
`;

const PLAY_HELP = `Usage: guess play [options]

Plays games as the seed's client does and prints what happens. Without --connect the
server runs in this process over in-memory streams, so no permissions are needed.
With --human you think of a number and the server guesses it; with --games K it plays
K games with random secrets and prints how many guesses they took.

Options:
  --connect HOST:PORT       Play a remote server instead (needs --allow-net)
  --game LOWER,UPPER,SECRET A game to play; repeat for more (default: 1,5,3 and 10,15,12)
  --count N                 Most guesses per game (default 5; with --games 10000)
  --strategy S              In-process server's strategy: ${STRATEGIES.join(", ")} (default random)
  --seed N                  In-process server's seed, to replay a game; with --games also
                            the secrets' seed (default: random, printed with --games)
  --human                   You keep the secret: answer each 'My guess: N' line with
                            w (warmer), c (colder), u (unsure) or y (yes), one per line;
                            end of input or Ctrl-C abandons the game
  --games K                 Play K games with random secrets; print the mean, median and
                            worst number of guesses and a histogram
  --range LOWER,UPPER       The range of --human and --games (default 1,100)
  --json                    With --games: the statistics as one JSON line
  -h, --help                Show this help
`;

/** What the CLI talks to; tests pass their own. */
interface Io {
  out(line: string): void;
  err(line: string): void;
}

const encoder = new TextEncoder();
const stdio: Io = {
  out: (line) => writeAll(Deno.stdout, line),
  err: (line) => writeAll(Deno.stderr, line),
};

function writeAll(stream: typeof Deno.stdout, line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  try {
    while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
  } catch (error) {
    // A reader that went away (`guess play | head`) is not our failure: drop the output.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

function parse<T extends ParseArgsOptionsConfig>(command: string, args: string[], options: T) {
  // parseArgs takes `--seed -5` for two options; join a negative number to its option.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    if (name && options[name]?.type === "string" && /^-[0-9]/.test(args[i + 1] ?? "")) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  try {
    return parseArgs({
      args: joined,
      options,
      strict: true as const,
      allowPositionals: false as const,
    });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.replace(/\.$/, "") : String(cause);
    throw new UsageError(message.charAt(0).toUpperCase() + message.slice(1), command, { cause });
  }
}

/**
 * `count` comma-separated integers, each as strict as the protocol's
 * ({@linkcode parseInteger}), or `undefined` when the text is not that.
 */
function integers(text: string, count: number): number[] | undefined {
  const parts = text.split(",");
  if (parts.length !== count) return undefined;
  try {
    return parts.map((part) => parseInteger(part, "Value"));
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
}

function integer(command: string, name: string, text: string, min: number, max: number): number {
  const value = integers(text, 1)?.[0];
  if (value === undefined || value < min || value > max) {
    throw new UsageError(
      `--${name} needs an integer from ${min} to ${max}, got "${text}"`,
      command,
    );
  }
  return value;
}

function strategy(command: string, text: string | undefined): StrategyName {
  if (text === undefined) return "random";
  if ((STRATEGIES as readonly string[]).includes(text)) return text as StrategyName;
  throw new UsageError(
    `--strategy must be one of ${STRATEGIES.join(", ")}, got "${text}"`,
    command,
  );
}

function seed(command: string, text: string | undefined): number | undefined {
  return text === undefined
    ? undefined
    : integer(command, "seed", text, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
}

async function serveCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("serve", args, {
    hostname: { type: "string" },
    port: { type: "string" },
    strategy: { type: "string" },
    seed: { type: "string" },
    "max-line-bytes": { type: "string" },
    "max-connections": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    "log-format": { type: "string" },
    verbose: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  const format = values["log-format"] ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`--log-format must be text or json, got "${format}"`, "serve");
  }
  const optional = (name: keyof typeof values, min: number, max: number, scale = 1) => {
    const text = values[name];
    return typeof text === "string" ? integer("serve", name, text, min, max) * scale : undefined;
  };
  const logger = createLogger({ format, verbose: values.verbose, write: io.err });
  const controller = new AbortController();
  const server = serve({
    hostname: values.hostname,
    port: optional("port", 0, 65535),
    strategy: strategy("serve", values.strategy),
    seed: seed("serve", values.seed),
    maxLineBytes: optional("max-line-bytes", 16, 1 << 20),
    maxConnections: optional("max-connections", 1, 1_000_000),
    idleTimeout: optional("idle-timeout", 1, 86_400, 1000),
    grace: optional("grace", 0, 3_600, 1000),
    logger,
    signal: controller.signal,
  });
  let interrupts = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    if (signal === "SIGINT" && ++interrupts > 1) {
      logger.log("warn", "Second SIGINT, exiting now");
      Deno.exit(130);
    }
    logger.log("info", `Received ${signal}`);
    controller.abort();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  try {
    await server.finished;
  } finally {
    for (const remove of handlers) remove();
  }
  return 0;
}

function hostPort(text: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(text);
  if (!match) throw new UsageError(`--connect needs HOST:PORT, got "${text}"`, "play");
  return {
    hostname: match[1] ?? match[2],
    port: integer("play", "connect", match[3], 1, 65535),
  };
}

function gameSpec(text: string): GameSpec {
  const bad = () =>
    new UsageError(
      `--game needs LOWER,UPPER,SECRET with LOWER <= SECRET <= UPPER, got "${text}"`,
      "play",
    );
  const values = integers(text, 3);
  if (!values) throw bad();
  const [lower, upper, secret] = values;
  if (lower > secret || secret > upper) throw bad();
  return { lower, upper, secret };
}

async function playCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("play", args, {
    connect: { type: "string" },
    game: { type: "string", multiple: true },
    count: { type: "string" },
    strategy: { type: "string" },
    seed: { type: "string" },
    human: { type: "boolean" },
    games: { type: "string" },
    range: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(PLAY_HELP);
    return 0;
  }
  const mode = values.human ? "--human" : values.games !== undefined ? "--games" : undefined;
  const conflicts: [unknown, string][] = [
    [values.human && values.games !== undefined, "--human and --games exclude each other"],
    [mode && values.game !== undefined, `--game applies to the seed's demo, not ${mode}`],
    [!mode && values.range !== undefined, "--range applies to --human and --games"],
    [values.json && mode !== "--games", "--json applies to --games"],
    [mode === "--human" && values.count !== undefined, "--count does not apply to --human"],
  ];
  const conflict = conflicts.find(([bad]) => bad);
  if (conflict) throw new UsageError(conflict[1], "play");
  const games = values.game?.map(gameSpec) ?? DEMO_GAMES;
  const defaultCount = mode === "--games" ? 10_000 : 5;
  const count = values.count === undefined
    ? defaultCount
    : integer("play", "count", values.count, 1, 1e9);
  const remote = values.connect === undefined ? undefined : hostPort(values.connect);
  const options = { strategy: strategy("play", values.strategy), seed: seed("play", values.seed) };
  // With --games the seed also picks the secrets, so it means something with --connect too.
  if (remote && (values.strategy !== undefined || (values.seed !== undefined && !values.games))) {
    throw new UsageError(
      "--strategy and --seed apply to the in-process server, not --connect",
      "play",
    );
  }
  let lower = 1, upper = 100;
  if (values.range !== undefined) {
    const bounds = integers(values.range, 2);
    if (!bounds || bounds[0] > bounds[1]) {
      throw new UsageError(
        `--range needs LOWER,UPPER, safe integers with LOWER <= UPPER, got "${values.range}"`,
        "play",
      );
    }
    [lower, upper] = bounds;
  }
  const rounds = values.games === undefined
    ? 0
    : integer("play", "games", values.games, 1, 1_000_000);
  const gamesSeed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];

  await using table = remote ? await openRemote(remote.hostname, remote.port) : openInProcess({
    ...options,
    seed: mode === "--games" ? gamesSeed : options.seed,
    onEvent(event) {
      if (event.type === "report" && !mode) io.out(`Server: ${event.guess} is ${event.decision}`);
    },
  });
  if (mode === "--human") {
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    Deno.addSignalListener("SIGINT", onInterrupt);
    try {
      const result = await playHuman(table, {
        lower,
        upper,
        input: Deno.stdin.readable,
        print: io.out,
        // A prompt without a newline only for a person at a terminal, not for scripts.
        prompt: io === stdio && Deno.stdin.isTerminal()
          ? (text) => void Deno.stdout.writeSync(encoder.encode(text))
          : undefined,
        signal: controller.signal,
      });
      switch (result.type) {
        case "won":
          return 0;
        case "abandoned":
          return result.interrupted ? 130 : 0;
        case "contradiction":
          return 1;
        default: {
          const unknown: never = result;
          throw new Error(`Unknown result ${JSON.stringify(unknown)}`);
        }
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  }
  if (mode === "--games") {
    const tally = await playGames(table, { lower, upper, games: rounds, count, seed: gamesSeed });
    const summary = summarize(tally);
    const by = remote ? `the server at ${values.connect}` : options.strategy;
    if (values.json) {
      const info = { strategy: remote ? null : options.strategy, lower, upper, seed: gamesSeed };
      io.out(summaryJson(summary, { ...info, count }));
    } else {
      const heading =
        `${rounds} game${rounds === 1 ? "" : "s"} of ${by} over [${lower}, ${upper}]` +
        `, seed ${gamesSeed}`;
      for (const line of formatSummary(summary, heading, count)) io.out(line);
    }
    return 0;
  }
  await playDemo(table, games, count, io.out);
  return 0;
}

const BENCH_HELP = `Usage: guess bench [options]

Puts load on a guess server and prints round trips/s, games/s, reply latency
percentiles, errors and connections. Every reply is checked: a number in the game's
range, judged like a real client would. Without --connect it starts our server in a
worker thread, so this one command is a whole benchmark: the worker's modules need
--allow-read as well as --allow-net (deno run --allow-net --allow-read main.ts bench).

Options:
  --connect HOST:PORT   Load this server instead of one in a worker
  --connections N       Connections at once (default 50)
  --duration S          Seconds the run lasts, connecting included (default 10)
  --range N             Games are over 1..N (default 100)
  --pipeline D          Instead of games, write D NUMBERs at a time and wait for all D replies
  --idle                Instead of games, one exchange per connection, then idle till the end
  --json                Print the result as one JSON object
  -h, --help            Show this help

Exit status: 0 without errors, 1 when any reply or connection failed.
`;

async function benchCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("bench", args, {
    connect: { type: "string" },
    connections: { type: "string" },
    duration: { type: "string" },
    range: { type: "string" },
    pipeline: { type: "string" },
    idle: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(BENCH_HELP);
    return 0;
  }
  const number = (name: "connections" | "duration" | "range" | "pipeline", max: number) => {
    const text = values[name];
    return text === undefined ? undefined : integer("bench", name, text, 1, max);
  };
  const connections = number("connections", 1_000_000) ?? 50;
  const duration = (number("duration", 86_400) ?? 10) * 1000;
  const range = number("range", Number.MAX_SAFE_INTEGER) ?? 100;
  const depth = number("pipeline", 65_536);
  if (depth !== undefined && values.idle) {
    throw new UsageError("--pipeline and --idle exclude each other", "bench");
  }
  if (depth !== undefined && depth > range) {
    throw new UsageError(`--pipeline ${depth} is over --range ${range}`, "bench");
  }
  let remote: { hostname: string; port: number } | undefined;
  try {
    remote = values.connect === undefined ? undefined : hostPort(values.connect);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(error.message, "bench", { cause: error });
    throw error;
  }
  // Loaded here, not at the top: the histogram library costs the other commands ~20 MB.
  const { formatResult, progressLine, runLoad } = await import("./loadgen.ts");
  const tty = io === stdio && Deno.stderr.isTerminal();
  await using server = remote ? undefined : await startServerWorker(connections);
  const result = await runLoad({
    hostname: remote?.hostname,
    port: remote?.port ?? server!.port,
    connections,
    duration,
    range,
    mode: depth !== undefined
      ? { type: "pipeline", depth }
      : values.idle
      ? { type: "idle" }
      : { type: "game" },
    onProgress: tty
      ? (progress) => Deno.stderr.writeSync(encoder.encode(`\r${progressLine(progress)}\x1b[K`))
      : undefined,
  });
  if (tty) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
  io.out(values.json ? JSON.stringify(result) : formatResult(result));
  return result.errors === 0 ? 0 : 1;
}

/** Runs our server in a module worker (its own thread); dispose to stop it. */
async function startServerWorker(
  connections: number,
): Promise<{ port: number } & AsyncDisposable> {
  const worker = new Worker(new URL("./bench/server_worker.ts", import.meta.url), {
    type: "module",
  });
  const next = () =>
    new Promise<ServerWorkerReply>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<ServerWorkerReply>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`Server worker failed: ${event.message}`));
      };
    });
  const send = (request: ServerWorkerRequest) => worker.postMessage(request);
  try {
    const listening = next();
    send({ type: "start", maxConnections: Math.max(connections, SERVER_DEFAULTS.maxConnections) });
    const reply = await listening;
    if (reply.type !== "listening") throw new Error(`Server worker said ${reply.type}`);
    return {
      port: reply.port,
      async [Symbol.asyncDispose]() {
        const stopped = next();
        send({ type: "stop" });
        await stopped.finally(() => worker.terminate());
      },
    };
  } catch (error) {
    worker.terminate();
    throw error;
  }
}

/**
 * Runs the CLI.
 *
 * @param args The arguments, without the program name.
 * @param io Where output goes.
 * @returns The exit status: 0 done, 1 failed at run time, 2 bad command line.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const lines: string[] = [];
 * const status = await main(["--version"], { out: (l) => lines.push(l), err: () => {} });
 * console.assert(status === 0 && lines[0].startsWith("guess "));
 * ```
 */
export async function main(args: string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(rest, io);
      case "play":
        return await playCommand(rest, io);
      case "bench":
        return await benchCommand(rest, io);
      case "--version":
      case "-V":
        io.out(`guess ${VERSION}`);
        return 0;
      case "--help":
      case "-h":
      case "help":
        io.out(MAIN_HELP);
        return 0;
      case undefined:
        throw new UsageError("Missing command: expected serve, play or bench", "guess");
      default:
        throw new UsageError(
          `Unknown command "${command}": expected serve, play or bench`,
          "guess",
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const where = error.command === "guess" ? "guess --help" : `guess ${error.command} --help`;
      io.err(`guess: ${error.message}\nTry '${where}'`);
      return 2;
    }
    io.err(`guess: ${runtimeMessage(error)}`);
    return 1;
  }
}

function runtimeMessage(error: unknown): string {
  if (error instanceof ServerError) return `Server error: ${error.message}`;
  if (error instanceof ProtocolError) return `Protocol error: ${error.message}`;
  if (error instanceof Deno.errors.ConnectionRefused) return `Connection refused: ${error.message}`;
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `${error.message.split("\n")[0]}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
