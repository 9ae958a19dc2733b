/**
 * `guess bench`: puts load on a server (ours in a worker thread, or
 * `--connect`) and prints throughput, latency and errors.
 *
 * @module
 */

import { SERVER_DEFAULTS } from "../server.ts";
import { hostPort, integer, type Io, onOff, parse, stdio, UsageError, writeText } from "./args.ts";
import type { ServerWorkerReply, ServerWorkerRequest } from "./server_worker.ts";

/**
 * The help of `guess bench`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BENCH_HELP } from "./bench.ts";
 * assert.match(BENCH_HELP, /--pipeline/);
 * ```
 */
export const BENCH_HELP = `Usage: guess bench [options]

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
  --fairness on|off     Pass a fairness gate after each reply, so that the load generator
                        does not starve its own sockets (default on)
  --json                Print the result as one JSON object
  -h, --help            Show this help

Exit status: 0 without errors, 1 when any reply or connection failed.
`;

/**
 * Runs `guess bench`.
 *
 * @param args The arguments after `bench`.
 * @param io Where the result goes.
 * @returns The exit status: 0 without errors, 1 when a reply or connection failed.
 * @throws {UsageError} On a bad command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./args.ts";
 * import { benchCommand } from "./bench.ts";
 * const io = { out: () => {}, err: () => {} };
 * await assert.rejects(benchCommand(["--pipeline", "5", "--idle"], io), UsageError);
 * ```
 */
export async function benchCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("bench", args, {
    connect: { type: "string" },
    connections: { type: "string" },
    duration: { type: "string" },
    range: { type: "string" },
    pipeline: { type: "string" },
    idle: { type: "boolean" },
    fairness: { type: "string" },
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
  const fairness = onOff("bench", "fairness", values.fairness);
  const remote = values.connect === undefined ? undefined : hostPort(values.connect, "bench");
  // Loaded here, not at the top: the histogram library costs the other commands ~20 MB.
  const { formatResult, progressLine, runLoad } = await import("./loadgen.ts");
  checkFileLimit(connections, remote === undefined);
  const worker = new URL("./server_worker.ts", import.meta.url);
  if (!remote && worker.protocol === "file:") {
    const read = Deno.permissions.querySync({ name: "read", path: worker });
    if (read.state !== "granted") {
      throw new Error(
        "Requires read access to start the server worker: run with --allow-read" +
          " (deno run --allow-net --allow-read main.ts bench), or give --connect HOST:PORT",
      );
    }
  }
  const tty = io === stdio && Deno.stderr.isTerminal();
  // Ctrl-C ends the run early; what was measured until then is printed.
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  using _listening = { [Symbol.dispose]: () => Deno.removeSignalListener("SIGINT", onInterrupt) };
  await using server = remote ? undefined : await startServerWorker(connections);
  const result = await runLoad({
    hostname: remote?.hostname,
    port: remote?.port ?? server!.port,
    connections,
    duration,
    range,
    fairness,
    mode: depth !== undefined
      ? { type: "pipeline", depth }
      : values.idle
      ? { type: "idle" }
      : { type: "game" },
    signal: controller.signal,
    onProgress: tty
      ? (progress) => writeText(Deno.stderr, `\r${progressLine(progress)}\x1b[K`)
      : undefined,
  });
  if (tty) writeText(Deno.stderr, "\r\x1b[K");
  io.out(values.json ? JSON.stringify(result) : formatResult(result));
  if (controller.signal.aborted) {
    io.err("Interrupted: the result covers the run until Ctrl-C");
    return 130;
  }
  return result.errors === 0 ? 0 : 1;
}

/** File descriptors besides the connections: the runtime, stdio, the listener, the worker. */
const SPARE_FILES = 64;

/**
 * The soft limit on open files of this process, from `/proc/self/limits`
 * (Linux), or `undefined` when it cannot be read (no `--allow-read`, another
 * system) or is unlimited.
 *
 * @param text The file's text, for tests; read from `/proc/self/limits` by default.
 * @returns The limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFileLimit } from "./bench.ts";
 * const text = "Limit  Soft Limit  Hard Limit  Units\nMax open files  1024  4096  files\n";
 * assert.equal(openFileLimit(text), 1024);
 * ```
 */
export function openFileLimit(text?: string): number | undefined {
  if (text === undefined) {
    const path = "/proc/self/limits";
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      return undefined;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return match && match[1] !== "unlimited" ? Number(match[1]) : undefined;
}

/**
 * How many more files this process can open, up to `wanted`: it opens
 * `/dev/null` until it has `wanted` or the kernel says EMFILE, then closes
 * them all. Used where `/proc/self/limits` cannot be read (Deno 2.9 needs
 * `--allow-all` for it); `undefined` without read permission for `/dev/null`.
 */
function probeFreeFiles(wanted: number): number | undefined {
  if (Deno.permissions.querySync({ name: "read", path: "/dev/null" }).state !== "granted") {
    return undefined;
  }
  const files: Deno.FsFile[] = [];
  try {
    while (files.length < wanted) files.push(Deno.openSync("/dev/null"));
  } catch {
    // Out of descriptors (or /dev/null missing): what we got is the answer.
  } finally {
    for (const file of files) file.close();
  }
  return files.length;
}

/** Fails before the run when --connections cannot fit under the open-file limit. */
function checkFileLimit(connections: number, inProcess: boolean): void {
  // In a worker our server holds the other end of each connection, in this same process.
  const needed = connections * (inProcess ? 2 : 1) + SPARE_FILES;
  const limit = openFileLimit();
  const raise = `raise it (ulimit -n ${needed}, up to the hard limit in ulimit -Hn)` +
    " or lower --connections";
  if (limit !== undefined) {
    if (needed <= limit) return;
    throw new Error(
      `--connections ${connections} needs about ${needed} open files, over this process's limit` +
        ` of ${limit}: ${raise}`,
    );
  }
  const free = probeFreeFiles(needed);
  if (free === undefined || free >= needed) return;
  throw new Error(
    `--connections ${connections} needs about ${needed} open files, but this process can open` +
      ` only ${free} more: ${raise}`,
  );
}

/** Runs our server in a module worker (its own thread); dispose to stop it. */
async function startServerWorker(
  connections: number,
): Promise<{ port: number } & AsyncDisposable> {
  const worker = new Worker(new URL("./server_worker.ts", import.meta.url), {
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
