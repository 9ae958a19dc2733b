/**
 * `serve({ workers: N })`: N Web Workers, each running a whole server
 * (`worker_entry.ts`) with its own listener on the same port, its own event
 * loop and its own fairness gate, as nginx runs one worker process per core.
 * The main thread only starts, watches, restarts and drains them; workers
 * share no state.
 *
 * - The port: the main thread binds the requested address once without
 *   `reusePort` (so a bad address or a port in use throws from `serve()` as
 *   with one loop, also when the port's holder is another `serve --workers`,
 *   whose listeners have `SO_REUSEPORT`; and `addr` is known at once), closes
 *   it, and every worker binds the port it got with `reusePort`. Until
 *   `onListen` (called once, when every worker listens) a connect may be
 *   refused. Between the probe's close and the workers' binds another
 *   process could still take the port: a worker that cannot bind dies and is
 *   restarted with backoff (logged), and one with `SO_REUSEPORT` would share
 *   it.
 * - Spreading: Linux spreads connections among `SO_REUSEPORT` listeners by
 *   a hash of the 4-tuple (measured 481/519 for two). Elsewhere Deno ignores
 *   `reusePort` and a second listener could not bind: `workers` above 1
 *   throws a `RangeError` off Linux.
 * - `maxConnections` is a total: each worker gets ceil(total / N). The kernel
 *   does not look at how busy a worker is, so with an uneven spread one
 *   worker may refuse a connection while another still has room.
 *   `maxConnectionsPerIp` is per worker (not split): a client can hold up to
 *   N times it in all.
 * - Across the thread boundary: `logger` gets every worker's records by
 *   message, with a `worker` field (1..N); `onConnection` events carry
 *   `worker`; `onEvent` gets game events by message (one per event: costly
 *   under load); `connections` is the sum of the workers' last reports
 *   (and of the main thread's WebSockets, below).
 * - `http`: one HTTP side for the whole process, on the main thread (the
 *   page, `/ws`, `/metrics`, `/healthz`), listening once `serve()` returns
 *   (before every worker may listen: `onListen` says when). Not in a worker:
 *   a worker can die and be restarted, and the HTTP side must outlive that,
 *   answer `/healthz` through the whole drain and gather every worker's
 *   metrics, which is the supervisor's job anyway.
 * - `/ws` games are played on the main thread's own connection loop
 *   (`serveWebSockets()` in `server.ts`: the same loop as one loop's server,
 *   without a TCP listener), not handed to a worker: a `WebSocket` cannot be
 *   transferred to a worker, and relaying each line through `postMessage`
 *   would cost more than the game. A WebSocket counts against the
 *   `maxConnections` total: it is refused (`ERROR Server busy …`) when the
 *   main thread's WebSockets plus the workers' last reported connections
 *   reach it. The workers' TCP limit, ceil(total / N) each, does not see the
 *   WebSockets, so TCP connections arriving after them can take the process
 *   up to the total plus the WebSockets open. Its log records carry
 *   `worker=0`, and so do its `onConnection` events.
 * - `/metrics` is the process's totals, fresh per scrape: the main thread
 *   asks every running worker for a snapshot of its registry by message and
 *   waits at most {@linkcode METRICS_WAIT_MS} for each; the snapshots, the
 *   main thread's own (WebSockets, HTTP requests) and those of dead workers
 *   are summed with `mergeSnapshots()` (gauges: open connections summed, the
 *   uptime the main thread's). Every series a worker starts at 0 is there
 *   before its first increase. A worker that does not answer in time counts
 *   with the last snapshot it sent (none yet: nothing), with a `warn` log, so
 *   a scrape never waits longer and a counter never goes back. A worker that
 *   dies keeps its counters and histograms in the totals as of its last
 *   snapshot (what it counted after that is lost with its connections); its
 *   gauges go. Workers do not push snapshots: a scrape costs each one message
 *   and an idle server none; scrapes that arrive while one is waiting share
 *   its answers. The totals have no `worker` label; three families per
 *   worker, kept by the main thread from the workers' connection events,
 *   show how the kernel spread the connections and which worker keeps
 *   dying: `guess_worker_connections_accepted_total{worker="1"}`,
 *   `guess_worker_connections_open` and `guess_worker_restarts_total`.
 *   `metrics` (the property) is the main thread's own registry: empty
 *   without `http`.
 * - `/healthz` is 503 `Starting` until every worker listens (the HTTP side
 *   answers before that), 200 until `shutdown()` starts, then 503 until every worker
 *   and the main thread's WebSockets are drained; then the HTTP side stops
 *   and `finished` resolves.
 * - A worker that dies (an uncaught error, a failed start) is logged and
 *   restarted after 100 ms, doubling up to 5 s while it keeps dying (reset
 *   once a worker ran 10 s); its connections are lost, the others keep
 *   serving. `shutdown()` drains every worker with the same grace.
 *
 * @module
 */

import { type HttpSide, startHttp } from "./http.ts";
import { type Fields, type Level, type Logger, silentLogger } from "./log.ts";
import {
  formatExposition,
  mergeSnapshots,
  Registry,
  ServerMetrics,
  type Snapshot,
} from "./metrics.ts";
import type { GameEvent } from "./protocol.ts";
import {
  type ConnectionEvent,
  type GuessServer,
  type ServeOptions,
  serveWebSockets,
  type WebSocketLoop,
} from "./server.ts";

/** The most workers one process may run. */
export const MAX_WORKERS = 256;

/** The first restart delay of a dead worker, in milliseconds. */
const RESTART_FIRST_MS = 100;
/** The longest restart delay, in milliseconds. */
const RESTART_MAX_MS = 5_000;
/** A worker that ran this long without dying resets its restart delay. */
const RESTART_RESET_MS = 10_000;

/**
 * How long a `/metrics` scrape waits for each worker's snapshot, in
 * milliseconds; a worker that has not answered by then counts with the last
 * snapshot it sent (Prometheus's own scrape timeout defaults to 10 s).
 */
export const METRICS_WAIT_MS = 1_000;

/**
 * The options a worker gets: what can cross the thread boundary.
 *
 * @example
 * ```ts
 * import type { WorkerServeOptions } from "./workers.ts";
 * const options: WorkerServeOptions = { hostname: "127.0.0.1", port: 4321, maxConnections: 500 };
 * ```
 */
export type WorkerServeOptions = Pick<
  ServeOptions,
  | "hostname"
  | "port"
  | "strategy"
  | "seed"
  | "maxLineBytes"
  | "maxConnections"
  | "maxConnectionsPerIp"
  | "idleTimeout"
  | "grace"
  | "tcpBacklog"
  | "fairness"
  | "proxyProtocol"
>;

/**
 * What the main thread tells a worker. `crash` and `mute` are test hooks: the
 * worker throws an uncaught error, as a bug would, or stops answering
 * `metrics`, as a worker too busy to answer in time would.
 *
 * @example
 * ```ts
 * import type { WorkerRequest } from "./workers.ts";
 * const request: WorkerRequest = { type: "shutdown" };
 * ```
 */
export type WorkerRequest =
  | {
    readonly type: "start";
    readonly options: WorkerServeOptions;
    readonly verbose: boolean;
    readonly events: boolean;
  }
  | { readonly type: "shutdown" }
  | { readonly type: "metrics"; readonly id: number }
  | { readonly type: "crash" }
  | { readonly type: "mute" };

/**
 * What a worker tells the main thread.
 *
 * @example
 * ```ts
 * import type { WorkerReply } from "./workers.ts";
 * const reply: WorkerReply = { type: "listening" };
 * ```
 */
export type WorkerReply =
  | { readonly type: "listening" }
  | {
    readonly type: "log";
    readonly level: Level;
    readonly message: string;
    readonly fields: Fields;
  }
  | { readonly type: "connection"; readonly event: ConnectionEvent }
  | { readonly type: "event"; readonly event: GameEvent }
  | { readonly type: "metrics"; readonly id: number; readonly snapshot: Snapshot }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "finished"; readonly snapshot?: Snapshot };

/** One worker slot: the running Web Worker (if any) and what it reported. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  connections: number;
  listened: boolean;
  started: number;
  delay: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last metrics the running worker sent (its final ones once it finished). */
  snapshot: Snapshot;
  /** Counts the workers this slot retired, so a scrape drops what it asked a retired one. */
  generation: number;
  /** Scrapes waiting for this worker's metrics, by request id. */
  scrapes: Map<number, (snapshot: Snapshot | undefined) => void>;
  /** Resolves once this slot is done for good (after shutdown). */
  done: PromiseWithResolvers<void>;
}

/**
 * Checks a `workers` value: an integer from 1 to {@linkcode MAX_WORKERS}.
 *
 * @param workers The value.
 * @returns The value.
 * @throws {RangeError} When it is not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkWorkers } from "./workers.ts";
 * assert.equal(checkWorkers(2), 2);
 * assert.throws(() => checkWorkers(0), RangeError);
 * ```
 */
export function checkWorkers(workers: number): number {
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(
      `Option workers must be an integer from 1 to ${MAX_WORKERS}, got ${workers}`,
    );
  }
  return workers;
}

const handles = new WeakMap<
  GuessServer,
  (worker: number, request: Extract<WorkerRequest, { type: "crash" | "mute" }>) => void
>();

/**
 * Test hook: makes worker `worker` (1..N) of a server started with `workers`
 * throw an uncaught error, so that its restart can be tested.
 *
 * @param server A server from `serve({ workers })` with workers above 1.
 * @param worker Which worker, 1..N.
 * @throws {RangeError} When the server has no workers.
 *
 * @example
 * ```ts ignore
 * import { crashWorker } from "./workers.ts";
 * crashWorker(server, 1);
 * ```
 */
export function crashWorker(server: GuessServer, worker: number): void {
  const send = handles.get(server);
  if (!send) throw new RangeError("Not a server with workers");
  send(worker, { type: "crash" });
}

/**
 * Test hook: makes worker `worker` (1..N) of a server started with `workers`
 * stop answering the main thread's requests for its metrics, so that a scrape
 * of `/metrics` has to do without it (it shows that worker's last snapshot).
 *
 * @param server A server from `serve({ workers })` with workers above 1.
 * @param worker Which worker, 1..N.
 * @throws {RangeError} When the server has no workers.
 *
 * @example
 * ```ts ignore
 * import { muteWorker } from "./workers.ts";
 * muteWorker(server, 1);
 * ```
 */
export function muteWorker(server: GuessServer, worker: number): void {
  const send = handles.get(server);
  if (!send) throw new RangeError("Not a server with workers");
  send(worker, { type: "mute" });
}

/**
 * Runs a server on `options.workers` Web Workers; what `serve()` does when
 * `workers` is above 1 (see the module doc for what differs).
 *
 * @param options The options of `serve()`.
 * @param defaults The defaults of `serve()` (`SERVER_DEFAULTS`).
 * @returns The running server, as one loop's.
 * @throws {RangeError} On a bad `workers` value or another bad option, or off Linux.
 * @throws {Deno.errors.PermissionDenied} Without read access to `worker_entry.ts`
 * (a Web Worker's module is read like a file), before anything listens.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./server.ts";
 * await using server = serve({ port: 0, workers: 2 });
 * console.log(server.addr.port);
 * ```
 */
export function serveWorkers(
  options: ServeOptions,
  defaults: { readonly hostname: string; readonly port: number; readonly maxConnections: number },
): GuessServer {
  const count = checkWorkers(options.workers ?? 1);
  if (Deno.build.os !== "linux") {
    throw new RangeError(
      `Option workers needs Linux: on ${Deno.build.os} reusePort does not spread connections`,
    );
  }
  const total = options.maxConnections ?? defaults.maxConnections;
  if (!Number.isSafeInteger(total) || total < 1) {
    throw new RangeError(`Option maxConnections must be an integer of at least 1, got ${total}`);
  }
  const logger = options.logger ?? silentLogger;
  // Without read access every worker would die at its start and be restarted forever.
  const entry = new URL("./worker_entry.ts", import.meta.url);
  if (
    entry.protocol === "file:" &&
    Deno.permissions.querySync({ name: "read", path: entry }).state !== "granted"
  ) {
    throw new Deno.errors.PermissionDenied(
      `Requires read access to ${entry.pathname} to start the workers: run with --allow-read`,
    );
  }
  // Learn the port (and fail here on a bad address or a port in use) before any worker
  // starts. Without SO_REUSEPORT: a port another process holds with it (a second
  // `serve --workers`) is "address in use" here too, as with one loop.
  const probe = Deno.listen({
    hostname: options.hostname ?? defaults.hostname,
    port: options.port ?? defaults.port,
  });
  const addr = probe.addr;
  probe.close();
  const workerOptions: WorkerServeOptions = {
    hostname: options.hostname,
    port: addr.port,
    strategy: options.strategy,
    seed: options.seed,
    maxLineBytes: options.maxLineBytes,
    maxConnections: Math.ceil(total / count),
    maxConnectionsPerIp: options.maxConnectionsPerIp,
    idleTimeout: options.idleTimeout,
    grace: options.grace,
    tcpBacklog: options.tcpBacklog,
    fairness: options.fairness,
    proxyProtocol: options.proxyProtocol,
  };
  let stopping = false;
  let announced = false;
  const started = performance.now();
  /** The counters and histograms of workers that died: their totals do not go back. */
  let retired: Snapshot = [];

  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    worker: undefined,
    connections: 0,
    listened: false,
    started: 0,
    delay: RESTART_FIRST_MS,
    restartTimer: undefined,
    snapshot: [],
    generation: 0,
    scrapes: new Map(),
    done: Promise.withResolvers<void>(),
  }));
  const workerConnections = () => slots.reduce((sum, slot) => sum + slot.connections, 0);
  /** Per-worker series, kept by the main thread from the workers' connection events. */
  const perWorker = new Registry();
  const acceptedBy = perWorker.counter(
    "guess_worker_connections_accepted_total",
    "Game connections accepted, by worker (1..N)",
    ["worker"],
  );
  const openBy = perWorker.gauge(
    "guess_worker_connections_open",
    "Game connections open now, by worker (1..N)",
    ["worker"],
  );
  const restartsBy = perWorker.counter(
    "guess_worker_restarts_total",
    "Times a worker died and was started again, by worker (1..N)",
    ["worker"],
  );
  for (const slot of slots) {
    const worker = { worker: String(slot.index) };
    acceptedBy.inc(worker, 0);
    openBy.set(0, worker);
    restartsBy.inc(worker, 0);
  }

  // With http: the main thread's HTTP side and its WebSocket loop (module doc).
  let loop: WebSocketLoop | undefined;
  let httpSide: HttpSide | undefined;
  let scraping: Promise<string> | undefined;
  if (options.http) {
    const http = options.http;
    // Silenced if the HTTP side cannot start: that loop never served, so no "Shutting down".
    let failed = false;
    const loopLogger = withFields(logger, { worker: 0 });
    loop = serveWebSockets({
      ...options,
      maxConnections: total,
      logger: {
        verbose: loopLogger.verbose,
        log(level, message, fields) {
          if (!failed) loopLogger.log(level, message, fields);
        },
      },
      onConnection: options.onConnection &&
        ((event) => options.onConnection!({ ...event, worker: 0 })),
    }, workerConnections);
    const main = loop;
    try {
      httpSide = startHttp(http, {
        // Scrapes at the same time share one round of requests: a flood of them costs each
        // worker one message at a time.
        metrics: () => scraping ??= scrape(main).finally(() => scraping = undefined),
        healthy: () => !stopping,
        // 503 until every worker listens: a balancer's check waits for the whole process.
        starting: () => !announced,
        capacity: () => total - workerConnections() - main.connections,
        onResponse: (status) => main.metrics.httpRequests.inc({ code: String(status) }),
        adopt: main.adopt,
      });
    } catch (error) {
      // The HTTP port is taken, say: no worker has started yet.
      failed = true;
      void main.shutdown();
      throw error;
    }
  }

  let nextScrape = 1;
  /** Asks a worker for its metrics; at most METRICS_WAIT_MS, else its last snapshot. */
  const ask = (slot: Slot): Promise<Snapshot> => {
    const worker = slot.worker;
    if (worker === undefined || !slot.listened) return Promise.resolve(slot.snapshot);
    const id = nextScrape++;
    return new Promise<Snapshot>((resolve) => {
      const timer = setTimeout(() => {
        slot.scrapes.delete(id);
        logger.log("warn", "Worker did not send its metrics in time, showing its last ones", {
          worker: slot.index,
          wait_ms: METRICS_WAIT_MS,
        });
        resolve(slot.snapshot);
      }, METRICS_WAIT_MS);
      slot.scrapes.set(id, (snapshot) => {
        clearTimeout(timer);
        slot.scrapes.delete(id);
        resolve(snapshot ?? []);
      });
      worker.postMessage({ type: "metrics", id } satisfies WorkerRequest);
    });
  };
  /** The text of `/metrics`: the main thread's, every worker's and the retired ones, summed. */
  const scrape = async (main: WebSocketLoop): Promise<string> => {
    const generations = slots.map((slot) => slot.generation);
    const answers = await Promise.all(slots.map(ask));
    // A worker that died meanwhile is in `retired` now: not twice.
    const snapshots = answers.map((snapshot, i) =>
      slots[i].generation === generations[i] ? snapshot : []
    );
    main.metrics.uptime.set(Math.round(performance.now() - started) / 1000);
    return formatExposition(
      mergeSnapshots([
        main.metrics.registry.snapshot(),
        ...snapshots,
        retired,
        perWorker.snapshot(),
      ]),
    );
  };
  /** A worker is gone: its counters go to `retired`, its gauges (open connections) to 0. */
  const retire = (slot: Slot) => {
    retired = mergeSnapshots([retired, slot.snapshot.filter((family) => family.type !== "gauge")]);
    slot.snapshot = [];
    slot.generation++;
    // A scrape waiting for it need not wait: it reads `retired` after every answer.
    for (const answer of slot.scrapes.values()) answer(undefined);
  };

  const checkListening = () => {
    if (announced || !slots.every((slot) => slot.listened)) return;
    announced = true;
    if (options.onListen) options.onListen(addr);
    else {
      logger.log("info", `Listening on ${addr.hostname}:${addr.port}`, {
        ...(logger.format === "json" ? { host: addr.hostname, port: addr.port } : {}),
        workers: count,
      });
    }
    if (httpSide && !options.http?.onListen) {
      logger.log("info", `HTTP on ${httpSide.addr.hostname}:${httpSide.addr.port}`);
    }
  };

  const died = (slot: Slot, reason: string) => {
    slot.worker?.terminate();
    slot.worker = undefined;
    slot.connections = 0;
    openBy.set(0, { worker: String(slot.index) });
    retire(slot);
    if (stopping) {
      slot.done.resolve();
      return;
    }
    if (performance.now() - slot.started > RESTART_RESET_MS) slot.delay = RESTART_FIRST_MS;
    logger.log("error", "Worker died, restarting", {
      worker: slot.index,
      error: reason,
      restart_ms: slot.delay,
    });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      restartsBy.inc({ worker: String(slot.index) });
      start(slot);
    }, slot.delay);
    slot.delay = Math.min(RESTART_MAX_MS, slot.delay * 2);
  };

  const start = (slot: Slot) => {
    const worker = new Worker(entry, {
      type: "module",
      name: `guess worker ${slot.index}`,
    });
    slot.worker = worker;
    slot.started = performance.now();
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      if (slot.worker !== worker) return;
      const reply = event.data;
      switch (reply.type) {
        case "listening":
          if (slot.listened) logger.log("info", "Worker restarted", { worker: slot.index });
          slot.listened = true;
          checkListening();
          return;
        case "log":
          logger.log(reply.level, reply.message, { ...reply.fields, worker: slot.index });
          return;
        case "connection":
          slot.connections = reply.event.connections;
          if (reply.event.type === "open") acceptedBy.inc({ worker: String(slot.index) });
          openBy.set(reply.event.connections, { worker: String(slot.index) });
          options.onConnection?.({ ...reply.event, worker: slot.index });
          return;
        case "event":
          options.onEvent?.(reply.event);
          return;
        case "metrics":
          slot.snapshot = reply.snapshot;
          slot.scrapes.get(reply.id)?.(reply.snapshot);
          return;
        case "failed":
          died(slot, reply.error);
          return;
        case "finished":
          worker.terminate();
          slot.worker = undefined;
          slot.connections = 0;
          if (reply.snapshot) slot.snapshot = reply.snapshot;
          if (stopping) {
            for (const answer of slot.scrapes.values()) answer(slot.snapshot);
            slot.done.resolve();
          } else died(slot, "Error: Worker stopped by itself");
          return;
        default: {
          const unknown: never = reply;
          throw new RangeError(`Unknown worker reply ${JSON.stringify(unknown)}`);
        }
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // Handled here: unhandled, a worker's error would end the whole process.
      event.preventDefault();
      if (slot.worker === worker) died(slot, event.message);
    };
    worker.onmessageerror = () => {
      if (slot.worker === worker) died(slot, "Error: Unreadable message from the worker");
    };
    const request: WorkerRequest = {
      type: "start",
      options: workerOptions,
      verbose: logger.verbose,
      events: options.onEvent !== undefined,
    };
    worker.postMessage(request);
  };

  for (const slot of slots) start(slot);

  let finishedResolve: () => void = () => {};
  const finished = new Promise<void>((resolve) => finishedResolve = resolve);
  const shutdown = (): Promise<void> => {
    if (stopping) return finished;
    stopping = true;
    logger.log("info", "Shutting down", { workers: count, connections: server.connections });
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      if (slot.worker) slot.worker.postMessage({ type: "shutdown" } satisfies WorkerRequest);
      else slot.done.resolve();
    }
    // /healthz answers 503 from here (stopping) through the whole drain, then the HTTP side goes.
    const draining = [...slots.map((slot) => slot.done.promise), loop?.shutdown()];
    Promise.all(draining).then(async () => {
      await httpSide?.shutdown();
      options.signal?.removeEventListener("abort", onAbort);
      logger.log("info", "Server stopped", { workers: count });
      finishedResolve();
    });
    return finished;
  };
  const onAbort = () => void shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const server: GuessServer = {
    addr,
    finished,
    get connections() {
      return workerConnections() + (loop?.connections ?? 0);
    },
    httpAddr: httpSide?.addr,
    metrics: loop?.metrics ?? new ServerMetrics(),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
  handles.set(server, (index, request) => {
    const slot = slots[index - 1];
    if (!slot?.worker) throw new RangeError(`No worker ${index} running`);
    slot.worker.postMessage(request);
  });
  if (options.signal?.aborted) shutdown();
  return server;
}

/** A logger that adds `fields` to every record. */
function withFields(logger: Logger, fields: Fields): Logger {
  return {
    verbose: logger.verbose,
    format: logger.format,
    log: (level, message, more = {}) => logger.log(level, message, { ...more, ...fields }),
  };
}
