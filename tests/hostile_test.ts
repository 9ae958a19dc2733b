/**
 * Hostile and broken clients over real TCP: limits, timeouts, backpressure,
 * faults and graceful shutdown. Every wait has a deadline.
 */

import assert from "node:assert/strict";
import {
  MAX_CONSECUTIVE_ERRORS,
  MAX_LINES_PER_TURN,
  MAX_OUTPUT_PER_TURN,
  ServerConnection,
} from "../protocol.ts";
import { createLogger } from "../log.ts";
import { type ConnectionEvent, serve, serveStreams } from "../server.ts";
import { Rng } from "../strategy.ts";
import {
  encode,
  readLines,
  readStreamUntil,
  readToEnd,
  runCli,
  spawnCli,
  withTimeout,
  writeText,
} from "./helpers.ts";

const LOCAL = "127.0.0.1";
const NO_GAME = "ERROR No game in progress: send PARAMS lower upper first\n";

/**
 * Follows a server's connections through its `onConnection` events:
 * `until(n)` resolves once exactly n are open, `untilClosed(n)` once n have
 * closed in all (at once if that holds already); both fail at the deadline.
 */
function connectionCount() {
  let open = 0;
  let closed = 0;
  const waiters: { done: () => boolean; resolve: () => void }[] = [];
  const wait = (done: () => boolean, what: string, timeout: number): Promise<void> => {
    if (done()) return Promise.resolve();
    return withTimeout(new Promise((resolve) => waiters.push({ done, resolve })), timeout, what);
  };
  return {
    onConnection(event: ConnectionEvent) {
      open = event.connections;
      if (event.type === "close") closed++;
      for (const waiter of waiters.filter((w) => w.done())) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
    until: (n: number, what: string, timeout = 5_000) => wait(() => open === n, what, timeout),
    untilClosed: (n: number, what: string, timeout = 5_000) =>
      wait(() => closed >= n, what, timeout),
  };
}

/** This process's open file descriptors, counted by `ls` (reading /proc/self needs --allow-all). */
async function openFds(): Promise<number> {
  const { stdout } = await new Deno.Command("ls", { args: [`/proc/${Deno.pid}/fd`] }).output();
  return new TextDecoder().decode(stdout).trim().split("\n").length;
}

/** Reads to the server's EOF, then half-closes too, as a polite client does. */
async function readToEndAndHangUp(conn: Deno.TcpConn, timeout?: number): Promise<string> {
  const text = await readToEnd(conn, timeout);
  await conn.closeWrite();
  return text;
}

Deno.test("serve() refuses a connection over --max-connections with ERROR Server busy; the others go on", async () => {
  const count = connectionCount();
  await using server = serve({ port: 0, maxConnections: 2, onConnection: count.onConnection });
  using a = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  using b = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  // Make sure both are accepted before the third arrives.
  await writeText(a, "PARAMS 5 5\nNUMBER\n");
  await writeText(b, "PARAMS 6 6\nNUMBER\n");
  assert.equal(await readLines(a, 1), "5\n");
  assert.equal(await readLines(b, 1), "6\n");
  {
    using c = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    assert.equal(await readToEnd(c), "ERROR Server busy: 2 connections, try again later\n");
  }
  await writeText(a, "REPORT Correct\nNUMBER\n");
  assert.equal(await readLines(a, 1), "5\n");
  b.close();
  await count.until(1, "the server to see b close");
  using d = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(d, "PARAMS 7 7\nNUMBER\n");
  assert.equal(await readLines(d, 1), "7\n");
});

Deno.test("serve() closes a silent connection with ERROR Idle timeout", async () => {
  await using server = serve({ port: 0, idleTimeout: 150 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  const started = Date.now();
  assert.equal(await readToEnd(conn, 3_000), "ERROR Idle timeout\n");
  assert.ok(Date.now() - started >= 140, "not before the timeout");
});

Deno.test("serve() does not let a slow drip of bytes without a newline reset the idle timer", async () => {
  await using server = serve({ port: 0, idleTimeout: 200 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < 40) conn.write(encode("P")).then(() => sent++, () => {});
  }, 25);
  try {
    const started = Date.now();
    assert.equal(await readToEnd(conn, 3_000), "ERROR Idle timeout\n");
    assert.ok(Date.now() - started < 1_000, "the drip kept the connection alive");
  } finally {
    clearInterval(drip);
  }
});

Deno.test("serve() keeps a connection that completes lines alive past the idle timeout", async () => {
  await using server = serve({ port: 0, idleTimeout: 150 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(conn, "PARAMS 3 3\nNUMBER\nREPORT Correct\n");
  assert.equal(await readLines(conn, 1), "3\n");
  const started = Date.now();
  // Each reply is awaited; the whole exchange spans several idle timeouts.
  while (Date.now() - started < 600) {
    await writeText(conn, "NUMBER\n");
    assert.equal(await readLines(conn, 1), "3\n");
    await new Promise((resolve) => setTimeout(resolve, 50)); // pacing, not waiting for an event
  }
});

Deno.test("serveStreams() stops reading while a write is pending (output backpressure)", async () => {
  let pulls = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      if (pulls > 1_000) controller.close(); // a bounded peer, so the test ends
      else controller.enqueue(encode(pulls === 1 ? "PARAMS 1 1000000\n" : "NUMBER\n".repeat(100)));
    },
  }, { highWaterMark: 0 });
  let firstWrite!: () => void;
  const wrote = new Promise<void>((resolve) => firstWrite = resolve);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const output = new WritableStream<Uint8Array>({
    write() {
      firstWrite();
      return released; // a peer that does not read
    },
  }, { highWaterMark: 1 });
  const serving = serveStreams(input, output, { seed: 1 });
  await withTimeout(wrote, 2_000, "the first write");
  const seen = pulls;
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  // At most the one chunk that was already in flight; never the unbounded input.
  assert.ok(pulls <= seen + 2, `read on while writes were pending: ${seen} -> ${pulls}`);
  release();
  await withTimeout(serving, 5_000, "the session to end");
  assert.equal(pulls, 1_001, "the rest of the input was read once writes went through");
});

Deno.test("serve() loses nothing when a client pipelines 100k NUMBERs while reading slowly", async () => {
  await using server = serve({ port: 0, seed: 3 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  const count = 100_000;
  const writing = (async () => {
    await writeText(conn, "PARAMS 1 9007199254740991\n");
    for (let i = 0; i < count; i += 10_000) await writeText(conn, "NUMBER\n".repeat(10_000));
  })();
  const text = await readLines(conn, count, 20_000);
  await writing;
  const lines = text.split("\n").slice(0, -1);
  assert.equal(lines.length, count);
  assert.ok(lines.every((line) => /^[1-9][0-9]*$/.test(line)));
  assert.equal(new Set(lines).size, count, "the random strategy repeated a guess");
});

Deno.test("serve() serves a burst of 1000 connects", async () => {
  await using server = serve({ port: 0 });
  const conns = await Promise.all(
    Array.from({ length: 1000 }, () => Deno.connect({ hostname: LOCAL, port: server.addr.port })),
  );
  try {
    const replies = await withTimeout(
      Promise.all(conns.map(async (conn, i) => {
        await writeText(conn, `PARAMS ${i} ${i}\nNUMBER\n`);
        return await readLines(conn, 1);
      })),
      15_000,
      "1000 replies",
    );
    assert.deepEqual(replies, conns.map((_, i) => `${i}\n`));
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("serve() finishes a normal game while 300 connections stay stalled mid-line", async () => {
  await using server = serve({ port: 0 });
  const stalled = await Promise.all(
    Array.from({ length: 300 }, () => Deno.connect({ hostname: LOCAL, port: server.addr.port })),
  );
  try {
    await Promise.all(stalled.map((conn) => writeText(conn, "PARAMS 1 10")));
    using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    await writeText(conn, "PARAMS 1 5\n");
    for (let i = 0; i < 5; i++) {
      await writeText(conn, "NUMBER\n");
      assert.match(await readLines(conn, 1), /^[1-5]\n$/);
      await writeText(conn, "REPORT Colder\n");
    }
    await writeText(conn, "NUMBER\n");
    assert.match(await readLines(conn, 1), /^ERROR Range exhausted/);
    // The game ended while every stalled connection was still open mid-line: no
    // stalled line held it up (no clock involved, only the order of events).
    assert.equal(server.connections, 301);
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("serve() survives peer resets and vanished peers, and releases every resource", async () => {
  const baseline = await openFds();
  {
    const count = connectionCount();
    await using server = serve({ port: 0, onConnection: count.onConnection });
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
        // Mid-game, with replies in flight: closing with unread input sends a reset.
        await writeText(conn, "PARAMS 1 100\nNUMBER\nREPORT Unsure\n" + "NUMBER\n".repeat(i % 7));
        if (i % 2 === 0) await readLines(conn, 1);
        conn.close();
      }));
    }
    // Every connection is accepted, even one its client already reset, then closed.
    await count.untilClosed(1000, "the server to drop 1000 closed connections");
    assert.equal(server.connections, 0);
    // Still serving.
    using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    await writeText(conn, "PARAMS 9 9\nNUMBER\n");
    assert.equal(await readLines(conn, 1), "9\n");
  }
  // The runtime drops a closed socket's descriptor once its last pending op
  // settles, a tick or two later, so allow a few in flight: a leak per
  // connection would show as hundreds.
  const after = await openFds();
  assert.ok(after <= baseline + 4, `file descriptors leaked: ${baseline} before, ${after} after`);
});

Deno.test("shutdown() closes idle connections at once, lets games finish, then ends the rest", async () => {
  const count = connectionCount();
  // Disposal shuts down again: shutdown() is idempotent, and nothing leaks if an assertion fails.
  await using server = serve({ port: 0, grace: 400, onConnection: count.onConnection });
  const port = server.addr.port;
  using idle = await Deno.connect({ hostname: LOCAL, port });
  using finishing = await Deno.connect({ hostname: LOCAL, port });
  using lingering = await Deno.connect({ hostname: LOCAL, port });
  await writeText(finishing, "PARAMS 1 1\n");
  await writeText(lingering, "PARAMS 2 2\nNUMBER\n");
  assert.equal(await readLines(lingering, 1), "2\n");
  await count.until(3, "three connections");
  const started = Date.now();
  const finished = server.shutdown();
  assert.equal(await readToEndAndHangUp(idle, 1_000), "ERROR Server shutting down\n");
  await assert.rejects(Deno.connect({ hostname: LOCAL, port }), Deno.errors.ConnectionRefused);
  // A game in progress still plays, and is ended when it ends.
  await writeText(finishing, "NUMBER\n");
  assert.equal(await readLines(finishing, 1), "1\n");
  await writeText(finishing, "REPORT Correct\nPARAMS 0 -1\n");
  assert.equal(await readToEndAndHangUp(finishing, 1_000), "ERROR Server shutting down\n");
  // One that does not finish gets the grace time, then the same line.
  assert.equal(await readToEndAndHangUp(lingering, 2_000), "ERROR Server shutting down\n");
  assert.ok(Date.now() - started >= 380, "the grace time was cut short");
  await withTimeout(finished, 3_000, "finished");
  assert.equal(server.connections, 0);
});

Deno.test("an AbortSignal shuts the server down", async () => {
  const controller = new AbortController();
  const count = connectionCount();
  await using server = serve({
    port: 0,
    signal: controller.signal,
    onConnection: count.onConnection,
  });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await count.until(1, "the connection");
  controller.abort();
  assert.equal(await readToEndAndHangUp(conn, 1_000), "ERROR Server shutting down\n");
  await withTimeout(server.finished, 3_000, "finished");
});

async function startServe(args: string[]) {
  const child = spawnCli(["serve", "--port", "0", ...args], ["--allow-net"]);
  const stderr = child.stderr.getReader();
  // Text or JSON: the port is what follows the last colon of the address.
  const text = await readStreamUntil(stderr, (t) => /Listening on \S+:\d+.*\n/.test(t), 10_000);
  const port = Number(/Listening on \S+:(\d+)/.exec(text)![1]);
  return { child, stderr, port };
}

Deno.test("serve exits 0 on SIGTERM after giving open games their grace, and clients get their ERROR", async () => {
  const { child, stderr, port } = await startServe(["--grace", "1"]);
  try {
    using playing = await Deno.connect({ hostname: LOCAL, port });
    using idle = await Deno.connect({ hostname: LOCAL, port });
    await writeText(playing, "PARAMS 1 3\nNUMBER\n");
    assert.match(await readLines(playing, 1), /^[1-3]\n$/);
    await writeText(idle, "NUMBER\n");
    assert.match(await readLines(idle, 1), /^ERROR No game/);
    child.kill("SIGTERM");
    assert.equal(await readToEndAndHangUp(idle, 2_000), "ERROR Server shutting down\n");
    assert.equal(await readToEndAndHangUp(playing, 4_000), "ERROR Server shutting down\n");
    const status = await withTimeout(child.status, 5_000, "the server to exit");
    assert.equal(status.code, 0);
    const log = await readStreamUntil(stderr, () => false, 2_000);
    assert.match(log, /Shutting down/);
    assert.match(log, /Server stopped/);
  } finally {
    await stderr.cancel();
    await child.stdout.cancel();
    try {
      child.kill();
    } catch { /* already exited */ }
  }
});

Deno.test("serve exits at once on a second SIGINT", async () => {
  const { child, stderr, port } = await startServe(["--grace", "60"]);
  try {
    using playing = await Deno.connect({ hostname: LOCAL, port });
    await writeText(playing, "PARAMS 1 3\nNUMBER\n");
    await readLines(playing, 1);
    child.kill("SIGINT");
    await readStreamUntil(stderr, (t) => t.includes("Shutting down"), 3_000);
    child.kill("SIGINT");
    const status = await withTimeout(child.status, 3_000, "the server to exit");
    assert.equal(status.code, 130);
  } finally {
    await stderr.cancel();
    await child.stdout.cancel();
  }
});

const prlimit = "/usr/bin/prlimit";
const noPrlimit = (() => {
  try {
    Deno.statSync(prlimit);
    return false;
  } catch {
    console.log("Skipping the accept-failure test: prlimit (util-linux) is not installed");
    return true;
  }
})();

Deno.test({
  name: "serve logs an accept failure (out of file descriptors) and keeps serving",
  ignore: noPrlimit,
}, async () => {
  // Only the server process gets the low limit.
  const child = new Deno.Command(prlimit, {
    args: [
      "--nofile=64:64",
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--allow-net",
      new URL("../main.ts", import.meta.url).pathname,
      "serve",
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = child.stderr.getReader();
  const conns: Deno.TcpConn[] = [];
  try {
    const text = await readStreamUntil(stderr, (t) => /Listening on [^\s]+:\d+\n/.test(t), 10_000);
    const port = Number(/Listening on [^\s]+:(\d+)/.exec(text)![1]);
    // Open connections until the server runs out of descriptors, while one
    // reader waits for the log line (no polling: the read stays pending).
    let failed = false;
    const logged = readStreamUntil(stderr, (t) => t.includes("Accept failed"), 10_000);
    logged.then(() => failed = true, () => failed = true);
    for (let i = 0; i < 80 && !failed; i++) {
      conns.push(await Deno.connect({ hostname: LOCAL, port }));
    }
    const log = await logged;
    assert.match(log, /ERROR Accept failed error=.*(Too many open files|os error 24)/);
    for (const conn of conns.splice(0)) conn.close();
    // Once descriptors are free again, it serves.
    using conn = await Deno.connect({ hostname: LOCAL, port });
    await writeText(conn, "PARAMS 4 4\nNUMBER\n");
    assert.equal(await readLines(conn, 1, 5_000), "4\n");
  } finally {
    for (const conn of conns) conn.close();
    child.kill("SIGTERM");
    await child.status;
    await stderr.cancel();
    await child.stdout.cancel();
  }
});

Deno.test("serve --log-format json logs start, limit hits and stop as one JSON object per line", async () => {
  const { child, stderr, port } = await startServe([
    "--log-format",
    "json",
    "--max-line-bytes",
    "16",
  ]);
  try {
    {
      using conn = await Deno.connect({ hostname: LOCAL, port });
      await writeText(conn, "X".repeat(100) + "\r\n\u001b[31mforged log line\n");
      assert.equal(
        await readToEndAndHangUp(conn),
        "ERROR Line too long: the limit is 16 bytes, closing\n",
      );
    }
    child.kill("SIGTERM");
    assert.equal((await withTimeout(child.status, 5_000, "the server to exit")).code, 0);
    const log = await readStreamUntil(stderr, () => false, 2_000);
    const lines = log.trim().split("\n");
    const records = lines.map((line) => JSON.parse(line));
    assert.ok(records.every((r) => typeof r.time === "string" && typeof r.level === "string"));
    const messages = records.map((r) => `${r.level} ${r.msg}`);
    assert.ok(messages.includes("warn Line too long, closing"), messages.join("\n"));
    assert.ok(messages.includes("info Server stopped"), messages.join("\n"));
    assert.ok(!log.includes("forged"), "client bytes reached the log");
  } finally {
    await stderr.cancel();
    await child.stdout.cancel();
  }
});

Deno.test("serve() skips connections reset in the accept queue at once and serves the next game", async () => {
  const entries: { level: string; message: string }[] = [];
  await using server = serve({
    port: 0,
    logger: { verbose: true, log: (level, message) => void entries.push({ level, message }) },
  });
  // Python connects and resets (SO_LINGER 0) 50 times while this process's
  // event loop is blocked, so every one of them waits in the accept queue.
  const script = `
import socket, struct, sys
for _ in range(50):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.close()
`;
  const reset = new Deno.Command("python3", {
    args: ["-c", script, String(server.addr.port)],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  assert.equal(reset.code, 0, new TextDecoder().decode(reset.stderr));
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(conn, "PARAMS 6 6\nNUMBER\n");
  assert.equal(await readLines(conn, 1), "6\n");
  // A reset is the peer's business: no error is logged and nothing backs off.
  assert.deepEqual(entries.filter((e) => e.level === "error" || e.level === "warn"), []);
});

Deno.test("ServerConnection.feed() handles a flood of bad lines a bounded batch per turn, then closes after MAX_CONSECUTIVE_ERRORS", () => {
  const core = new ServerConnection({ rng: new Rng(1) });
  let turn = core.feed(new Uint8Array(16 * 1024).fill(0x0a));
  let turns = 1;
  let lines = turn.lines;
  let errors = turn.output.split("\n").length - 1;
  while (turn.more) {
    assert.ok(turn.lines <= MAX_LINES_PER_TURN, `turn ${turns}: ${turn.lines} lines`);
    assert.ok(turn.output.length <= MAX_OUTPUT_PER_TURN + 128, `turn ${turns}: output`);
    turn = core.feed(new Uint8Array(0));
    turns++;
    lines += turn.lines;
    errors += turn.output.split("\n").length - 1;
  }
  assert.equal(lines, MAX_CONSECUTIVE_ERRORS);
  assert.ok(turns >= Math.ceil(MAX_CONSECUTIVE_ERRORS / MAX_LINES_PER_TURN));
  assert.equal(turn.close, "too_many_errors");
  assert.match(turn.output, /ERROR Too many errors: 1000 bad lines in a row, closing\n$/);
  assert.equal(errors, MAX_CONSECUTIVE_ERRORS + 1);
  assert.equal(core.closed, true);
});

Deno.test("ServerConnection: a good line resets the count of consecutive errors", () => {
  const core = new ServerConnection({ rng: new Rng(1) });
  const half = "\n".repeat(MAX_CONSECUTIVE_ERRORS - 1);
  const out = core.receive(encode(`${half}PARAMS 2 2\n${half}NUMBER\n`));
  assert.equal(core.closed, false);
  assert.ok(out.endsWith("2\n"));
});

Deno.test("ServerConnection.feed() leaves a pipeline's extra lines for the next turn, in order", () => {
  const core = new ServerConnection({ rng: new Rng(1) });
  const count = 3 * MAX_LINES_PER_TURN + 5;
  const first = core.feed(
    encode(`PARAMS 9 9\nNUMBER\nREPORT Correct\n${"NUMBER\n".repeat(count)}PARA`),
  );
  assert.equal(first.lines, MAX_LINES_PER_TURN);
  assert.equal(first.more, true);
  let out = first.output;
  let turn = first;
  while (turn.more) {
    turn = core.feed(new Uint8Array(0));
    out += turn.output;
  }
  out += core.feed(encode("MS 0 -1\nNUMBER\n")).output;
  assert.equal(out, "9\n".repeat(count + 1) + NO_GAME);
});

Deno.test("serve() closes a connection after 1000 bad lines in a row, each answered, then the last ERROR", async () => {
  await using server = serve({ port: 0 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(conn, "\n".repeat(3000));
  const text = await readToEndAndHangUp(conn);
  const lines = text.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, MAX_CONSECUTIVE_ERRORS + 1);
  assert.equal(lines.at(-1), "ERROR Too many errors: 1000 bad lines in a row, closing");
  assert.ok(lines.slice(0, -1).every((line) => line.startsWith("ERROR Empty line")));
});

Deno.test("serve() answers lines that start with a UTF-8 byte-order mark with ERROR and starts no game", async () => {
  const input = new Uint8Array([
    ...[0xef, 0xbb, 0xbf],
    ...encode("PARAMS 1 1\n"),
    ...[0xef, 0xbb, 0xbf],
    ...encode("NUMBER\nNUMBER\n"),
  ]);
  const expected = 'ERROR Unknown command "\\u{feff}PARAMS": expected PARAMS, NUMBER or REPORT\n' +
    'ERROR Unknown command "\\u{feff}NUMBER": expected PARAMS, NUMBER or REPORT\n' + NO_GAME;
  // Whole, byte by byte, and with trailing bytes.
  const core = new ServerConnection({ rng: new Rng(1) });
  assert.equal(core.receive(input), expected);
  const byByte = new ServerConnection({ rng: new Rng(1) });
  assert.equal([...input].map((b) => byByte.receive(new Uint8Array([b]))).join(""), expected);
  const trailing = new ServerConnection({ rng: new Rng(1) });
  assert.equal(trailing.receive(new Uint8Array([...input, ...encode("NUM")])), expected);
  await using server = serve({ port: 0 });
  using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await conn.write(input);
  assert.equal(await readLines(conn, 3), expected);
});

Deno.test("serve() refuses over --max-connections with a lingering close: a client that writes first still reads its ERROR", async () => {
  const count = connectionCount();
  await using server = serve({ port: 0, maxConnections: 1, onConnection: count.onConnection });
  using held = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await count.until(1, "the first connection to be accepted");
  for (let i = 0; i < 5; i++) {
    using conn = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    // The client talks before it reads, as play --connect does: unread input at a plain close
    // would draw a reset that destroys the ERROR line.
    await writeText(conn, "PARAMS 1 100\nNUMBER\n");
    assert.equal(
      await readToEndAndHangUp(conn),
      "ERROR Server busy: 1 connection, try again later\n",
    );
  }
  held.close();
});

Deno.test("serve() refuses one address over maxConnectionsPerIp with ERROR, and takes it again once one closes", async () => {
  const count = connectionCount();
  await using server = serve({
    port: 0,
    maxConnectionsPerIp: 2,
    onConnection: count.onConnection,
  });
  using a = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  const b = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await count.until(2, "two connections to be accepted");
  {
    using c = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    assert.equal(
      await readToEndAndHangUp(c),
      "ERROR Too many connections from your address: 2, try again later\n",
    );
  }
  // Counted once, by its kind (it was once counted twice: server_busy and other).
  assert.equal(server.metrics.protocolErrors.get({ kind: "server_busy" }), 1);
  assert.equal(server.metrics.protocolErrors.get({ kind: "other" }), 0);
  b.close();
  await count.untilClosed(1, "b to close");
  using d = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(d, "PARAMS 3 3\nNUMBER\n");
  assert.equal(await readLines(d, 1), "3\n");
  await writeText(a, "PARAMS 4 4\nNUMBER\n");
  assert.equal(await readLines(a, 1), "4\n");
});

Deno.test("serve() rejects a maxConnectionsPerIp below 1 before it listens", () => {
  assert.throws(() => serve({ port: 0, maxConnectionsPerIp: 0 }), RangeError);
});

Deno.test("serve exits 0 on a SIGTERM sent right after 'Listening on'", async () => {
  for (let i = 0; i < 3; i++) {
    const { child, stderr } = await startServe([]);
    try {
      child.kill("SIGTERM");
      const status = await withTimeout(child.status, 5_000, "the server to exit");
      assert.equal(status.signal, null);
      assert.equal(status.code, 0);
    } finally {
      await stderr.cancel();
      await child.stdout.cancel();
    }
  }
});

Deno.test("serve --hostname '' is a usage error (exit 2)", async () => {
  const { code, stderr } = await runCli(["serve", "--hostname", ""], { flags: ["--allow-net"] });
  assert.equal(code, 2);
  assert.match(stderr, /--hostname must not be empty/);
});

Deno.test("serve({ proxyProtocol }) counts the per-address limit by the PROXY header's address; the default is a tenth of maxConnections", async () => {
  const count = connectionCount();
  await using server = serve({
    port: 0,
    maxConnections: 10,
    proxyProtocol: true,
    onConnection: count.onConnection,
  });
  const header = (port: number) => `PROXY TCP4 192.0.2.1 127.0.0.1 ${port} 4321\r\n`;
  using a = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(a, `${header(5000)}PARAMS 8 8\nNUMBER\n`);
  assert.equal(await readLines(a, 1), "8\n");
  {
    using b = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
    await writeText(b, `${header(5001)}PARAMS 8 8\nNUMBER\n`);
    assert.equal(
      await readToEndAndHangUp(b),
      "ERROR Too many connections from your address: 1, try again later\n",
    );
  }
  // Another client address behind the same balancer is served.
  using c = await Deno.connect({ hostname: LOCAL, port: server.addr.port });
  await writeText(c, "PROXY TCP4 192.0.2.2 127.0.0.1 5002 4321\r\nPARAMS 9 9\nNUMBER\n");
  assert.equal(await readLines(c, 1), "9\n");
});

Deno.test("serve() logs a kicked idle connection once, however many sweeps its linger spans", async () => {
  const lines: string[] = [];
  let closed!: () => void;
  const gone = new Promise<void>((resolve) => closed = resolve);
  await using server = serve({
    port: 0,
    idleTimeout: 40,
    logger: createLogger({ write: (line) => lines.push(line) }),
    onConnection: (event) => event.type === "close" && closed(),
  });
  // The client never reads nor closes: the server lingers (2 s) past many 10 ms sweeps.
  using conn = await Deno.connect({ port: server.addr.port });
  await writeText(conn, "PARAMS 1 5\n");
  await withTimeout(gone, 10_000, "the idle connection to be closed");
  assert.equal(
    lines.filter((line) => line.includes("Idle timeout, closing")).length,
    1,
    lines.join("\n"),
  );
});

Deno.test("serve() logs the first refusal of a flood and counts the rest instead of one line each", async () => {
  const lines: string[] = [];
  await using server = serve({
    port: 0,
    maxConnections: 1,
    logger: createLogger({ write: (line) => lines.push(line) }),
  });
  using held = await Deno.connect({ port: server.addr.port });
  await writeText(held, "PARAMS 1 1\nNUMBER\n");
  assert.equal(await readLines(held, 1), "1\n");
  for (let i = 0; i < 10; i++) {
    using refused = await Deno.connect({ port: server.addr.port });
    assert.match(await readToEnd(refused), /^ERROR Server busy/);
  }
  const busy = lines.filter((line) => line.includes("Server busy, refusing"));
  assert.equal(busy.length, 1, lines.join("\n"));
});
