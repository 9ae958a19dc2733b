/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * One worker of `serve({ workers })` (see `workers.ts`): a whole server with
 * `reusePort`, its own event loop and its own gate. Its logger, connection
 * and game events go to the main thread by message; `metrics` asks for a
 * snapshot of its registry (for the main thread's `/metrics`); `shutdown`
 * drains it with the server's grace, then it answers `finished` with its last
 * snapshot.
 *
 * @module
 */

import { describeError, type Logger } from "./log.ts";
import { type GuessServer, serve } from "./server.ts";
import type { WorkerReply, WorkerRequest } from "./workers.ts";

let server: GuessServer | undefined;
let stopping = false;
/** The `mute` test hook: metrics requests go unanswered. */
let muted = false;

function reply(message: WorkerReply): void {
  self.postMessage(message);
}

function start(request: Extract<WorkerRequest, { type: "start" }>): void {
  const logger: Logger = {
    verbose: request.verbose,
    log(level, message, fields = {}) {
      if (level === "debug" && !request.verbose) return;
      reply({ type: "log", level, message, fields });
    },
  };
  try {
    server = serve({
      ...request.options,
      reusePort: true,
      logger,
      onListen: () => reply({ type: "listening" }),
      onConnection: (event) => reply({ type: "connection", event }),
      onEvent: request.events ? (event) => reply({ type: "event", event }) : undefined,
    });
  } catch (error) {
    reply({ type: "failed", error: describeError(error) });
    return;
  }
  const running = server;
  running.finished.then(() =>
    reply({ type: "finished", snapshot: running.metrics.registry.snapshot() })
  );
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  switch (request.type) {
    case "start":
      start(request);
      return;
    case "shutdown":
      if (stopping) return;
      stopping = true;
      if (server) server.shutdown();
      else reply({ type: "finished" });
      return;
    case "metrics":
      if (muted) return;
      // Between two of this loop's tasks: the snapshot is consistent.
      reply({
        type: "metrics",
        id: request.id,
        snapshot: server?.metrics.registry.snapshot() ?? [],
      });
      return;
    case "mute":
      muted = true;
      return;
    case "crash":
      // The test hook: an uncaught error, as a bug in the worker would be.
      setTimeout(() => {
        throw new Error("Worker crashed on request");
      }, 0);
      return;
    default: {
      const unknown: never = request;
      throw new RangeError(`Unknown request ${JSON.stringify(unknown)}`);
    }
  }
};
