/**
 * `serve({ workers })` and `serve --workers N`: both workers take
 * connections, games work on each, SIGTERM drains them all, a crashed worker
 * is restarted, bad `--workers` values are usage errors.
 */

import assert from "node:assert/strict";
import type { Fields, Level, Logger } from "../log.ts";
import { main } from "../main.ts";
import { type ConnectionEvent, serve } from "../server.ts";
import { crashWorker } from "../workers.ts";
import {
  connectionsOn,
  MAX_TRIES,
  playOneGame,
  readLines,
  readStreamUntil,
  readToEnd,
  spawnCli,
  withTimeout,
  writeText,
} from "./helpers.ts";

/** Remembers which worker each connection (by client address) landed on. */
class Placement {
  readonly #workers = new Map<string, number>();
  readonly #waiting = new Map<string, (worker: number) => void>();

  onConnection = (event: ConnectionEvent): void => {
    if (event.type !== "open" || event.remote === undefined) return;
    assert.ok(event.worker !== undefined, "an event with workers names its worker");
    this.#workers.set(event.remote, event.worker);
    this.#waiting.get(event.remote)?.(event.worker);
  };

  /** The worker of the connection from `remote`, once its open event came. */
  workerOf(remote: string): Promise<number> {
    const known = this.#workers.get(remote);
    if (known !== undefined) return Promise.resolve(known);
    return withTimeout(
      new Promise<number>((resolve) => this.#waiting.set(remote, resolve)),
      5_000,
      `the open event of ${remote}`,
    );
  }
}

/** A logger that keeps every record and can wait for one. */
function recordingLogger() {
  const records: { level: Level; message: string; fields: Fields }[] = [];
  const waiters: { match: (message: string, fields: Fields) => boolean; resolve: () => void }[] =
    [];
  const logger: Logger = {
    verbose: false,
    log(level, message, fields = {}) {
      records.push({ level, message, fields });
      for (const waiter of waiters) if (waiter.match(message, fields)) waiter.resolve();
    },
  };
  const waitFor = (match: (message: string, fields: Fields) => boolean, what: string) => {
    if (records.some((record) => match(record.message, record.fields))) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    waiters.push({ match, resolve });
    return withTimeout(promise, 10_000, what);
  };
  return { logger, records, waitFor };
}

function remoteOf(conn: Deno.TcpConn): string {
  return `${conn.localAddr.hostname}:${conn.localAddr.port}`;
}

Deno.test("serve({ workers: 2 }) spreads connections to both workers and a game works on each", async () => {
  const placement = new Placement();
  const listening = Promise.withResolvers<void>();
  let listens = 0;
  const events: string[] = [];
  await using server = serve({
    port: 0,
    workers: 2,
    onConnection: placement.onConnection,
    onEvent: (event) => events.push(event.type),
    onListen: () => {
      listens++;
      listening.resolve();
    },
  });
  await withTimeout(listening.promise, 10_000, "both workers listening");
  const opened: Deno.TcpConn[] = [];
  try {
    const conns = await connectionsOn(
      server.addr.port,
      [1, 2],
      (conn) => placement.workerOf(remoteOf(conn)),
      opened,
    );
    for (const conn of conns.values()) await playOneGame(conn);
    assert.equal(server.connections, opened.length, "connections are summed over the workers");
  } finally {
    for (const conn of opened) conn.close();
  }
  await server.shutdown();
  assert.equal(listens, 1, "onListen is called once");
  assert.ok(events.includes("start"), "game events cross the thread boundary");
  assert.equal(server.connections, 0);
});

Deno.test("serve({ workers: 2 }) restarts a worker that crashed and keeps answering", async () => {
  const placement = new Placement();
  const { logger, records, waitFor } = recordingLogger();
  await using server = serve({
    port: 0,
    workers: 2,
    logger,
    onConnection: placement.onConnection,
  });
  await waitFor((message) => message.startsWith("Listening on"), "listening");
  crashWorker(server, 1);
  await waitFor(
    (message, fields) => message === "Worker died, restarting" && fields.worker === 1,
    "worker 1 dying",
  );
  const died = records.find((record) => record.message === "Worker died, restarting")!;
  assert.equal(died.level, "error");
  assert.match(String(died.fields.error), /Worker crashed on request/);
  // Worker 2 keeps serving while worker 1 is down or starting again.
  const opened: Deno.TcpConn[] = [];
  try {
    await waitFor(
      (message, fields) => message === "Worker restarted" && fields.worker === 1,
      "worker 1 restarting",
    );
    const conns = await connectionsOn(
      server.addr.port,
      [1, 2],
      (conn) => placement.workerOf(remoteOf(conn)),
      opened,
    );
    for (const conn of conns.values()) await playOneGame(conn);
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("serve({ workers: 2, maxConnections: 2 }) holds 2 connections in total, 1 per worker", async () => {
  const listening = Promise.withResolvers<void>();
  await using server = serve({
    port: 0,
    workers: 2,
    maxConnections: 2,
    onListen: () => listening.resolve(),
  });
  await withTimeout(listening.promise, 10_000, "both workers listening");
  const opened: Deno.TcpConn[] = [];
  let accepted = 0;
  let refused = 0;
  try {
    for (let i = 0; i < MAX_TRIES && (accepted < 2 || refused < 1); i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      opened.push(conn);
      await writeText(conn, "PARAMS 6 6\nNUMBER\n");
      const reply = await readLines(conn, 1);
      if (reply === "6\n") accepted++;
      else {
        assert.match(reply, /^ERROR Server busy: 1 connections?, try again later\n$/);
        refused++;
      }
      assert.ok(accepted <= 2, "never more than the total at once");
    }
    assert.equal(accepted, 2, "one connection on each worker");
    assert.ok(refused >= 1);
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("serve({ workers: 2 }) on a port another serve({ workers: 2 }) holds throws AddrInUse", async () => {
  const listening = Promise.withResolvers<void>();
  await using first = serve({ port: 0, workers: 2, onListen: () => listening.resolve() });
  await withTimeout(listening.promise, 10_000, "both workers listening");
  // The workers' listeners have SO_REUSEPORT; a second server must not share their port.
  assert.throws(() => serve({ port: first.addr.port, workers: 2 }), Deno.errors.AddrInUse);
  // And with one loop, as before.
  assert.throws(() => serve({ port: first.addr.port }), Deno.errors.AddrInUse);
});

Deno.test("serve({ workers }) refuses bad counts", () => {
  for (const workers of [0, -1, 1.5, 257]) {
    assert.throws(() => serve({ port: 0, workers }), RangeError, `workers ${workers}`);
  }
});

Deno.test("serve --workers 2 drains games open on both workers on SIGTERM and exits 0", async () => {
  await using child = spawnCli(
    ["serve", "--port", "0", "--workers", "2", "--verbose"],
    ["--allow-net", "--allow-read", "--unstable-net"],
  );
  const stderr = child.stderr.getReader();
  const stdout = new Response(child.stdout).text();
  let log = "";
  const opened: Deno.TcpConn[] = [];
  try {
    log += await readStreamUntil(
      stderr,
      (text) => /Listening on \S+ workers=2\n/.test(text),
      10_000,
    );
    const match = /^\S+Z Listening on 127\.0\.0\.1:(\d+) workers=2$/m.exec(log);
    assert.ok(match, `no Listening line in ${JSON.stringify(log)}`);
    const port = Number(match[1]);
    const workerOf = async (conn: Deno.TcpConn) => {
      const line = new RegExp(
        `^\\S+Z Connection opened .*remote=${remoteOf(conn)} .*worker=(\\d)$`,
        "m",
      );
      log += await readStreamUntil(stderr, (text) => line.test(log + text));
      return Number(line.exec(log)![1]);
    };
    const conns = await connectionsOn(port, [1, 2], workerOf, opened);
    // A game in progress on each worker.
    for (const conn of conns.values()) {
      await writeText(conn, "PARAMS 6 6\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "6\n");
    }
    child.kill("SIGTERM");
    log += await readStreamUntil(
      stderr,
      (text) =>
        (log + text).match(/^\S+Z Shutting down connections=\d+ grace_\w+=\d+ worker=\d$/gm)
          ?.length ===
          2,
    );
    // Both games finish after the signal; then the server ends them and exits.
    for (const conn of conns.values()) {
      // Still in the game: it answers, until the game ends (as with one loop).
      await writeText(conn, "REPORT Correct\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "6\n");
      await writeText(conn, "PARAMS 0 -1\n");
      assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
    }
    const status = await withTimeout(child.status, 10_000, "serve exiting after SIGTERM");
    log += await readStreamUntil(stderr, () => false);
    assert.equal(status.code, 0);
    assert.match(log, /^\S+Z Received SIGTERM$/m);
    assert.match(log, /^\S+Z Server stopped worker=1$/m);
    assert.match(log, /^\S+Z Server stopped worker=2$/m);
    assert.match(log, /^\S+Z Server stopped workers=2$/m);
    assert.equal(await stdout, "");
  } finally {
    for (const conn of opened) conn.close();
    stderr.releaseLock();
  }
});

Deno.test("serve --workers 2 without --allow-read says what to do and exits 1, not restarting forever", async () => {
  await using child = spawnCli(["serve", "--port", "0", "--workers", "2"], [
    "--allow-net",
    "--unstable-net",
  ]);
  // Before the fix the workers died and restarted forever: bounded, so that fails, not hangs.
  const [status, stderr] = await withTimeout(
    Promise.all([
      child.status,
      new Response(child.stderr).text(),
      new Response(child.stdout).text(),
    ]),
    20_000,
    "serve --workers without --allow-read",
  );
  assert.equal(status.code, 1);
  assert.match(
    stderr,
    /^guess: Requires read access to \S+worker_entry\.ts to start the workers: run with --allow-read\n$/,
  );
});

Deno.test("serve --workers rejects 0, -1, abc and 257, exit 2", async () => {
  for (const value of ["0", "-1", "abc", "257"]) {
    const errors: string[] = [];
    const status = await main(["serve", `--workers=${value}`], {
      out: () => {},
      err: (line) => errors.push(line),
    });
    assert.equal(status, 2, `--workers ${value}`);
    assert.match(errors.join("\n"), /--workers needs an integer from 1 to 256, got "/);
  }
});
