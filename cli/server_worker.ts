/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A module worker that runs our server for `guess bench` without
 * `--connect`, so that the server and the load generator each get a thread.
 *
 * Messages in: `{ type: "start", maxConnections }`, then `{ type: "stop" }`.
 * Messages out: `{ type: "listening", port }`, then `{ type: "stopped" }`.
 *
 * @module
 */

import { type GuessServer, serve } from "../server.ts";

/**
 * What the worker is told.
 *
 * @example
 * ```ts
 * import type { ServerWorkerRequest } from "./server_worker.ts";
 * const request: ServerWorkerRequest = { type: "start", maxConnections: 10_000 };
 * ```
 */
export type ServerWorkerRequest =
  | { readonly type: "start"; readonly maxConnections: number }
  | { readonly type: "stop" };

/**
 * What the worker answers.
 *
 * @example
 * ```ts
 * import type { ServerWorkerReply } from "./server_worker.ts";
 * const reply: ServerWorkerReply = { type: "listening", port: 4321 };
 * ```
 */
export type ServerWorkerReply =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "stopped" };

let server: GuessServer | undefined;

function reply(message: ServerWorkerReply): void {
  self.postMessage(message);
}

self.onmessage = async (event: MessageEvent<ServerWorkerRequest>) => {
  const request = event.data;
  switch (request.type) {
    case "start":
      server = serve({
        port: 0,
        maxConnections: request.maxConnections,
        onListen: (addr) => reply({ type: "listening", port: addr.port }),
      });
      return;
    case "stop":
      await server?.shutdown();
      reply({ type: "stopped" });
      return;
    default: {
      const unknown: never = request;
      throw new RangeError(`Unknown request ${JSON.stringify(unknown)}`);
    }
  }
};
