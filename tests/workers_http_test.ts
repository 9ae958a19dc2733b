/**
 * `serve({ workers, http })` and `serve --workers N --http`: one HTTP side on
 * the main thread; `/metrics` sums every worker's metrics (and the main
 * thread's WebSocket games); `/ws` plays real games; `/healthz` is 503 through
 * the drain; a dead worker's counters stay in the totals, a mute one's last
 * snapshot is shown; WebSockets count against the connection total.
 */

import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { judge } from "../protocol.ts";
import { type ConnectionEvent, serve, type ServeOptions } from "../server.ts";
import { crashWorker, METRICS_WAIT_MS, muteWorker } from "../workers.ts";
import type { Logger } from "../log.ts";
import {
  connectionsOn,
  MAX_TRIES,
  playOneGame,
  readLines,
  readStreamUntil,
  readToEnd,
  readUntil,
  spawnCli,
  WebSocketPeer,
  withTimeout,
  writeText,
} from "./helpers.ts";

interface ParsedFamily {
  name: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/**
 * A server with two workers and the HTTP side on port 0, started: which
 * worker each connection landed on (by client address), how many each worker
 * (0: the main thread's WebSockets) has open, and a way to wait for a log line.
 */
async function start(options: ServeOptions = {}) {
  const workers = new Map<string, number>();
  const open = new Map<number, number>();
  const waiting: { test: () => boolean; resolve: () => void }[] = [];
  const wake = () => {
    for (const waiter of [...waiting]) {
      if (!waiter.test()) continue;
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  const until = (test: () => boolean, what: string): Promise<void> => {
    if (test()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    waiting.push({ test, resolve });
    return withTimeout(promise, 10_000, what);
  };
  const logs: string[] = [];
  const logger: Logger = {
    verbose: false,
    log(_level, message, fields = {}) {
      logs.push(`${message} ${JSON.stringify(fields)}`);
      wake();
    },
  };
  const listening = Promise.withResolvers<void>();
  const server = serve({
    port: 0,
    workers: 2,
    logger,
    ...options,
    http: { port: 0, onListen: () => {} },
    onListen: () => listening.resolve(),
    onConnection: (event: ConnectionEvent) => {
      assert.ok(event.worker !== undefined, "an event with workers names its worker");
      open.set(event.worker, event.connections);
      if (event.type === "open" && event.remote !== undefined) {
        workers.set(event.remote, event.worker);
      }
      wake();
    },
  });
  await withTimeout(listening.promise, 10_000, "both workers listening");
  const base = `http://127.0.0.1:${server.httpAddr!.port}`;
  return Object.assign(server, {
    base,
    ws: `ws://127.0.0.1:${server.httpAddr!.port}/ws`,
    /** The worker of a TCP connection of ours, once its open event came. */
    async workerOf(conn: Deno.TcpConn): Promise<number> {
      const remote = `${conn.localAddr.hostname}:${conn.localAddr.port}`;
      await until(() => workers.has(remote), `the open event of ${remote}`);
      return workers.get(remote)!;
    },
    /** Resolves once no connection is open on any worker, nor on the main thread. */
    idle: () => until(() => [...open.values()].every((n) => n === 0), "every connection closing"),
    /** Resolves once a log line matches. */
    logged: (pattern: RegExp) => until(() => logs.some((line) => pattern.test(line)), `${pattern}`),
  });
}

/** GETs a URL: its status and body. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await withTimeout(fetch(url), 5_000, `fetching ${url}`);
  return { status: response.status, body: await response.text() };
}

/** Scrapes `/metrics` and reads it with a real parser. */
async function scrape(base: string) {
  const { status, body } = await get(`${base}/metrics`);
  assert.equal(status, 200);
  const families = parsePrometheus(body) as ParsedFamily[];
  const family = (name: string) => {
    const found = families.find((f) => f.name === name);
    assert.ok(found, `no family ${name}`);
    return found;
  };
  /**
   * The one series of `name` with exactly `labels`; it must be there. (Not
   * for histograms: the parser drops their labels; see `histogram`.)
   */
  const series = (name: string, labels: Record<string, string> = {}) => {
    const matching = family(name).metrics.filter((m) =>
      JSON.stringify(Object.entries(m.labels ?? {}).sort()) ===
        JSON.stringify(Object.entries(labels).sort())
    );
    assert.equal(matching.length, 1, `one series ${name} ${JSON.stringify(labels)}`);
    return matching[0];
  };
  const value = (name: string, labels: Record<string, string> = {}) =>
    Number(series(name, labels).value);
  /** A histogram's count and sum for `strategy`, from the text. */
  const histogram = (strategy: string) => {
    const line = (suffix: string) => {
      const pattern = new RegExp(
        `^guess_guesses_per_game_${suffix}\\{strategy="${strategy}"\\} (\\S+)$`,
        "gm",
      );
      const matches = [...body.matchAll(pattern)];
      assert.equal(matches.length, 1, `one ${suffix} line for ${strategy}`);
      return Number(matches[0][1]);
    };
    return { count: line("count"), sum: line("sum") };
  };
  return { body, families, histogram, value };
}

/** Plays a whole game in [lower, upper] for `secret` over `/ws`, judging like a client; the guesses. */
async function playOverWebSocket(
  peer: WebSocketPeer,
  lower: number,
  upper: number,
  secret: number,
): Promise<number> {
  assert.equal(peer.socket.readyState, WebSocket.OPEN);
  peer.socket.send(`PARAMS ${lower} ${upper}`);
  let previous: bigint | undefined;
  for (let guesses = 1; guesses <= upper - lower + 1; guesses++) {
    const reply = await peer.ask("NUMBER");
    assert.match(reply, /^-?[0-9]+$/, `a number, got ${reply}`);
    const verdict = judge(secret, Number(reply), previous);
    previous = verdict.distance;
    peer.socket.send(`REPORT ${verdict.decision}`);
    if (verdict.decision === "Correct") return guesses;
  }
  assert.fail(`no Correct within ${upper - lower + 1} guesses`);
}

/** A raw WebSocket upgrade request, for what `fetch` cannot send. */
async function upgrade(port: number): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeText(
    conn,
    [
      "GET /ws HTTP/1.1",
      "Host: 127.0.0.1",
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ].join("\r\n") + "\r\n\r\n",
  );
  return await readUntil(conn, (text) => text.includes("\r\n\r\n"));
}

Deno.test("serve({ workers: 2, http }) /metrics sums the games of both workers and of /ws, every series from 0", async () => {
  await using server = await start();
  assert.equal((await get(`${server.base}/healthz`)).status, 200);
  const before = await scrape(server.base);
  // Label values that start at 0 are there before the first increase.
  assert.equal(before.value("guess_games_started_total", { strategy: "bisect" }), 0);
  assert.equal(before.value("guess_games_finished_total", { strategy: "random" }), 0);
  assert.equal(before.value("guess_connections_accepted_total", { transport: "tcp" }), 0);
  for (const worker of ["1", "2"]) {
    assert.equal(before.value("guess_worker_connections_accepted_total", { worker }), 0);
    assert.equal(before.value("guess_worker_restarts_total", { worker }), 0);
  }
  assert.equal(before.value("guess_protocol_errors_total", { kind: "idle_timeout" }), 0);
  assert.deepEqual(before.histogram("random"), { count: 0, sum: 0 });
  assert.ok(before.value("guess_uptime_seconds") > 0);

  const opened: Deno.TcpConn[] = [];
  let wsGuesses: number;
  try {
    const conns = await connectionsOn(server.addr.port, [1, 2], server.workerOf, opened);
    for (const conn of conns.values()) await playOneGame(conn);
    // A bad line on worker 1, counted by kind.
    await writeText(conns.get(1)!, "HELLO\n");
    assert.match(await readLines(conns.get(1)!, 1), /^ERROR Unknown command/);
    // A game over /ws, to Correct, on the main thread.
    {
      await using peer = await WebSocketPeer.open(`${server.ws}?strategy=bisect`);
      wsGuesses = await playOverWebSocket(peer, 1, 100, 73);
    }
    const during = await scrape(server.base);
    const tcp = { transport: "tcp" };
    assert.equal(during.value("guess_connections_accepted_total", tcp), opened.length);
    assert.equal(during.value("guess_connections_open", tcp), opened.length);
    // Per worker: each accepted some, together all of them.
    const byWorker = ["1", "2"].map((worker) =>
      during.value("guess_worker_connections_accepted_total", { worker })
    );
    assert.ok(byWorker.every((accepted) => accepted > 0), `accepted by worker: ${byWorker}`);
    assert.equal(byWorker[0] + byWorker[1], opened.length);
    const openBy = ["1", "2"].map((worker) =>
      during.value("guess_worker_connections_open", { worker })
    );
    assert.deepEqual(openBy, byWorker);
    assert.equal(during.value("guess_games_started_total", { strategy: "random" }), 4);
    assert.equal(during.value("guess_games_finished_total", { strategy: "random" }), 2);
    assert.equal(during.value("guess_protocol_errors_total", { kind: "unknown_command" }), 1);
  } finally {
    for (const conn of opened) conn.close();
  }
  await server.idle();
  const after = await scrape(server.base);
  const tcp = { transport: "tcp" }, ws = { transport: "websocket" };
  assert.equal(after.value("guess_connections_open", tcp), 0);
  assert.equal(after.value("guess_connections_open", ws), 0);
  assert.equal(after.value("guess_connections_accepted_total", ws), 1);
  assert.equal(after.value("guess_games_started_total", { strategy: "random" }), 4);
  assert.equal(after.value("guess_games_finished_total", { strategy: "random" }), 2);
  assert.equal(after.value("guess_games_abandoned_total", { strategy: "random" }), 2);
  assert.equal(after.value("guess_games_started_total", { strategy: "bisect" }), 1);
  assert.equal(after.value("guess_games_finished_total", { strategy: "bisect" }), 1);
  assert.deepEqual(after.histogram("bisect"), { count: 1, sum: wsGuesses });
  // One finished game of 1 guess on each worker.
  assert.deepEqual(after.histogram("random"), { count: 2, sum: 2 });
  assert.match(after.body, /^guess_guesses_per_game_bucket\{strategy="random",le="1"\} 2$/m);
  assert.ok(after.value("guess_received_bytes_total", tcp) > 0);
  assert.ok(after.value("guess_sent_bytes_total", ws) > 0);
  // Earlier scrapes and /healthz are HTTP requests of the main thread.
  assert.ok(after.value("guess_http_requests_total", { code: "200" }) >= 3);
  // One line per series: the workers' series were summed, not listed side by side.
  for (const family of after.families) {
    const keys = family.metrics.map((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()));
    assert.equal(new Set(keys).size, keys.length, `duplicate series in ${family.name}`);
  }
});

Deno.test("serve({ workers: 2, http }) keeps a dead worker's counters in /metrics", async () => {
  await using server = await start();
  const opened: Deno.TcpConn[] = [];
  try {
    const conns = await connectionsOn(server.addr.port, [1, 2], server.workerOf, opened);
    for (const conn of conns.values()) await playOneGame(conn);
    const alive = await scrape(server.base);
    assert.equal(alive.value("guess_games_finished_total", { strategy: "random" }), 2);
    crashWorker(server, 1);
    await server.logged(/^Worker died, restarting .*"worker":1/);
    const dead = await scrape(server.base);
    assert.equal(dead.value("guess_games_finished_total", { strategy: "random" }), 2);
    assert.equal(dead.value("guess_games_started_total", { strategy: "random" }), 4);
    assert.deepEqual(dead.histogram("random"), { count: 2, sum: 2 });
    // Its open connection is gone from the gauge; worker 2's is there.
    const open = dead.value("guess_connections_open", { transport: "tcp" });
    assert.ok(open < opened.length, `${open} open of ${opened.length}`);
    await server.logged(/^Worker restarted .*"worker":1/);
    const restarted = await scrape(server.base);
    assert.equal(restarted.value("guess_games_finished_total", { strategy: "random" }), 2);
    assert.equal(restarted.value("guess_worker_restarts_total", { worker: "1" }), 1);
    assert.equal(restarted.value("guess_worker_restarts_total", { worker: "2" }), 0);
    assert.equal(restarted.value("guess_worker_connections_open", { worker: "1" }), 0);
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("serve({ workers: 2, http }) scrapes without a worker that does not answer: its last snapshot", async () => {
  await using server = await start();
  const opened: Deno.TcpConn[] = [];
  try {
    const conns = await connectionsOn(server.addr.port, [1, 2], server.workerOf, opened);
    for (const conn of conns.values()) await playOneGame(conn);
    const first = await scrape(server.base);
    assert.equal(first.value("guess_games_finished_total", { strategy: "random" }), 2);
    muteWorker(server, 1);
    // One more finished game on each worker: worker 1's is not in its last snapshot.
    for (const conn of conns.values()) {
      await writeText(conn, "REPORT Correct\nPARAMS 3 3\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "3\n");
    }
    const second = await scrape(server.base);
    assert.equal(second.value("guess_games_finished_total", { strategy: "random" }), 3);
    assert.equal(second.value("guess_games_started_total", { strategy: "random" }), 5);
    await server.logged(
      new RegExp(
        `^Worker did not send its metrics in time.*"worker":1.*"wait_ms":${METRICS_WAIT_MS}`,
      ),
    );
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("serve({ workers: 2, maxConnections: 2, http }) refuses a WebSocket while the workers hold the total", async () => {
  await using server = await start({ maxConnections: 2 });
  const opened: Deno.TcpConn[] = [];
  const held: Deno.TcpConn[] = [];
  try {
    // One connection on each worker (1 each): the rest are refused by their worker.
    for (let i = 0; i < MAX_TRIES && held.length < 2; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      opened.push(conn);
      await writeText(conn, "PARAMS 6 6\nNUMBER\n");
      const reply = await readLines(conn, 1);
      if (reply === "6\n") held.push(conn);
      else assert.match(reply, /^ERROR Server busy: 1 connection, try again later\n$/);
    }
    assert.equal(held.length, 2, "one connection on each worker");
    // The main thread knows of both once their open events came.
    await Promise.all(held.map((conn) => server.workerOf(conn)));
    assert.equal((await get(`${server.base}/`)).status, 503, "the page: no connection left");
    {
      await using peer = new WebSocketPeer(server.ws);
      await withTimeout(peer.closed, 5_000, "the refusal");
      assert.deepEqual(peer.messages, ["ERROR Server busy: 2 connections, try again later"]);
    }
    const metrics = await scrape(server.base);
    assert.equal(metrics.value("guess_connections_refused_total", { transport: "websocket" }), 1);
  } finally {
    for (const conn of opened) conn.close();
  }
  // With the TCP games gone, /ws has room again.
  await server.idle();
  await using peer = await WebSocketPeer.open(server.ws);
  assert.equal(await playOverWebSocket(peer, 5, 5, 5), 1);
});

Deno.test("serve({ workers: 2, http }) answers /healthz 503 through the drain of TCP and /ws games, then stops", async () => {
  await using server = await start();
  const opened: Deno.TcpConn[] = [];
  try {
    const conns = await connectionsOn(server.addr.port, [1, 2], server.workerOf, opened);
    for (const conn of opened) if (![...conns.values()].includes(conn)) conn.close();
    opened.splice(0, opened.length, ...conns.values());
    // A game in progress on each worker and one over /ws.
    for (const conn of conns.values()) {
      await writeText(conn, "PARAMS 6 6\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "6\n");
    }
    await using peer = await WebSocketPeer.open(server.ws);
    peer.socket.send("PARAMS 1 10");
    assert.match(await peer.ask("NUMBER"), /^[0-9]+$/);
    assert.equal((await get(`${server.base}/healthz`)).status, 200);

    const stopped = server.shutdown();
    await server.logged(/^Shutting down .*"workers":2/);
    const draining = await get(`${server.base}/healthz`);
    assert.equal(draining.status, 503);
    assert.equal(draining.body, "Shutting down\n");
    assert.match(await upgrade(server.httpAddr!.port), /^HTTP\/1\.1 503 /);
    // The games go on in the drain; each ends with the server's goodbye.
    for (const conn of conns.values()) {
      await writeText(conn, "REPORT Correct\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "6\n");
      assert.equal((await get(`${server.base}/healthz`)).status, 503, "still draining");
      await writeText(conn, "PARAMS 0 -1\n");
      assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
    }
    assert.match(await peer.ask("NUMBER"), /^[0-9]+$/, "the /ws game goes on in the drain");
    assert.equal((await get(`${server.base}/healthz`)).status, 503, "still draining /ws");
    peer.socket.send("PARAMS 0 -1");
    await withTimeout(peer.closed, 5_000, "the server closing /ws");
    assert.equal(peer.messages.at(-1), "ERROR Server shutting down");
    await withTimeout(stopped, 10_000, "the drain");
    await assert.rejects(fetch(`${server.base}/healthz`), "the HTTP side stopped with the server");
    assert.equal(server.connections, 0);
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("serve --workers 2 --http 127.0.0.1:0 prints its listening lines, serves /metrics and stops on SIGTERM", async () => {
  await using child = spawnCli(
    ["serve", "--port", "0", "--workers", "2", "--http", "127.0.0.1:0"],
    ["--allow-net", "--allow-read", "--unstable-net"],
  );
  const stderr = child.stderr.getReader();
  const stdout = new Response(child.stdout).text();
  try {
    let log = await readStreamUntil(stderr, (text) => /HTTP on \S+\n/.test(text), 10_000);
    assert.match(log, /^\S+Z Listening on 127\.0\.0\.1:\d+ workers=2$/m);
    const port = Number(/^\S+Z HTTP on 127\.0\.0\.1:(\d+)$/m.exec(log)![1]);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await get(`${base}/healthz`)).status, 200);
    {
      await using peer = await WebSocketPeer.open(`ws://127.0.0.1:${port}/ws?strategy=bisect`);
      await playOverWebSocket(peer, 1, 20, 7);
    }
    const metrics = await scrape(base);
    assert.equal(metrics.value("guess_games_finished_total", { strategy: "bisect" }), 1);
    child.kill("SIGTERM");
    const status = await withTimeout(child.status, 10_000, "serve exiting after SIGTERM");
    log += await readStreamUntil(stderr, () => false);
    assert.equal(status.code, 0);
    assert.match(log, /^\S+Z Received SIGTERM$/m);
    assert.match(log, /^\S+Z Server stopped worker=0$/m);
    assert.match(log, /^\S+Z Server stopped workers=2$/m);
    assert.equal(await stdout, "");
  } finally {
    stderr.releaseLock();
  }
});

Deno.test("serve({ workers: 2, http }) on a taken HTTP port throws AddrInUse and leaves nothing running", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const logged: string[] = [];
  const logger: Logger = { verbose: false, log: (_level, message) => void logged.push(message) };
  assert.throws(
    () => serve({ port: 0, workers: 2, http: { port: taken.addr.port }, logger }),
    Deno.errors.AddrInUse,
  );
  // Nothing was served, so nothing is "Shutting down": the caller reports the taken port.
  assert.deepEqual(logged, []);
  // The sanitizers fail this test if a worker, a listener or a timer outlived the throw.
});
