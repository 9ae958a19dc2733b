import assert from "node:assert/strict";
import { checkGuess, Client, connect, ConnectError } from "../client.ts";
import { type Decision, ProtocolError, ServerError, Session } from "../protocol.ts";
import { Rng } from "../strategy.ts";
import { main } from "../main.ts";
import { serve, serveStreams } from "../server.ts";
import {
  acceptOne,
  CLOSE,
  closedPort,
  playSeedDemo,
  readLines,
  scriptedPeer,
  withTimeout,
  writeText,
} from "./helpers.ts";

const LOCAL = "127.0.0.1";

/** A fake server on port 0 and a client connected to it. */
async function fakeServer(timeout = 2_000) {
  const listener = Deno.listen({ hostname: LOCAL, port: 0 });
  const client = await connect({ hostname: LOCAL, port: listener.addr.port, timeout });
  const conn = await acceptOne(listener);
  conn.setNoDelay(true);
  return {
    client,
    conn,
    async [Symbol.asyncDispose]() {
      await client.close();
      // Dispose, not close(): a script may have closed the connection already.
      conn[Symbol.dispose]();
      listener[Symbol.dispose]();
    },
  };
}

/** A script that answers each NUMBER with the next of `replies` (then stalls). */
function answers(...replies: (string | typeof CLOSE)[]) {
  return (line: string) => line === "NUMBER" ? replies.shift() : undefined;
}

Deno.test("Client sends the seed's demo bytes exactly", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(
    peer.conn,
    answers("4\n", "3\n", "14\n", "11\n", "10\n", "15\n", "13\n"),
  );
  const results: [number, Decision][] = [];
  for (const [lower, upper, secret] of [[1, 5, 3], [10, 15, 12]]) {
    await using game = await peer.client.session(lower, upper, secret);
    for await (const n of game.requestNumbers(5)) {
      results.push([n, await game.reportOutcome(n)]);
    }
  }
  await peer.client.close();
  assert.equal(
    await received,
    "PARAMS 1 5\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n" +
      "PARAMS 10 15\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Warmer\nNUMBER\nREPORT Colder\n" +
      "NUMBER\nREPORT Colder\nNUMBER\nREPORT Warmer\nPARAMS 0 -1\n",
  );
  assert.deepEqual(results, [
    [4, "Unsure"],
    [3, "Correct"],
    [14, "Unsure"],
    [11, "Warmer"],
    [10, "Colder"],
    [15, "Colder"],
    [13, "Warmer"],
  ]);
});

Deno.test("connect() turns Nagle off, so a guess does not wait for a delayed ACK", async () => {
  // Watch the call itself rather than time 20 guesses (with Nagle on each NUMBER
  // after a REPORT waits ~40 ms, but a shared machine's timings prove nothing).
  using listener = Deno.listen({ hostname: LOCAL, port: 0 });
  let proto: Deno.TcpConn;
  {
    using probe = await Deno.connect({ hostname: LOCAL, port: listener.addr.port });
    using _accepted = await acceptOne(listener);
    proto = Object.getPrototypeOf(probe);
  }
  const original = proto.setNoDelay;
  const calls: unknown[][] = [];
  proto.setNoDelay = function (this: Deno.TcpConn, ...args: [boolean?]) {
    calls.push(args);
    return original.apply(this, args);
  };
  try {
    await using _client = await connect({ hostname: LOCAL, port: listener.addr.port });
    using _conn = await acceptOne(listener);
  } finally {
    proto.setNoDelay = original;
  }
  assert.deepEqual(calls, [[true]]);
});

Deno.test("Client accepts \\r\\n replies and negative numbers", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("-3\r\n", "-5\n"));
  {
    await using game = await peer.client.session(-5, -1, -5);
    assert.equal(await game.requestNumber(), -3);
    assert.equal(await game.reportOutcome(-3), "Unsure");
    assert.equal(await game.requestNumber(), -5);
    assert.equal(await game.reportOutcome(-5), "Correct");
    assert.equal(game.solved, true);
  }
  await peer.client.close();
  assert.equal(
    await received,
    "PARAMS -5 -1\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n",
  );
});

const BAD_REPLIES: [string, string][] = [
  ["abc\n", 'Reply is not a decimal integer: "abc"'],
  ["1.5\n", 'Reply is not a decimal integer: "1.5"'],
  ["\n", 'Reply is not a decimal integer: ""'],
  ["4 \n", 'Reply is not a decimal integer: "4 "'],
  ["ERROR\n", 'Reply is not a decimal integer: "ERROR"'],
  ["6\n", "Reply 6 is outside the game's range [1, 5]"],
  ["0\n", "Reply 0 is outside the game's range [1, 5]"],
  ["-1\n", "Reply -1 is outside the game's range [1, 5]"],
  [
    "99999999999999999999\n",
    'Reply is outside [-9007199254740991, 9007199254740991]: "99999999999999999999"',
  ],
];

for (const [reply, message] of BAD_REPLIES) {
  Deno.test(`Client rejects the reply ${JSON.stringify(reply)} with ProtocolError`, async () => {
    await using peer = await fakeServer();
    const received = scriptedPeer(peer.conn, answers(reply));
    let caught: unknown;
    try {
      await using game = await peer.client.session(1, 5, 3);
      await game.requestNumber();
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ProtocolError, `got ${caught}`);
    assert.equal(caught.message, message);
    assert.equal(peer.client.closed, true);
    // The client hung up; the game's disposal had nothing left to send.
    assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
    await assert.rejects(peer.client.number(), ProtocolError);
  });
}

Deno.test("Client rejects a reply line over its limit with ProtocolError", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("9".repeat(2000) + "\n"));
  const game = await peer.client.session(1, 5, 3);
  await assert.rejects(game.requestNumber(), (error: unknown) => {
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.message, "Connection failed: Line too long: the limit is 1024 bytes");
    assert.equal((error.cause as Error).name, "LineTooLongError");
    return true;
  });
  assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
});

Deno.test("Client rejects with ProtocolError when the server closes mid-game", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("2\n", CLOSE));
  const game = await peer.client.session(1, 5, 3);
  assert.equal(await game.requestNumber(), 2);
  await game.reportOutcome(2);
  await assert.rejects(game.requestNumber(), {
    name: "ProtocolError",
    message: "Server closed the connection",
  });
  assert.equal(await received, "PARAMS 1 5\nNUMBER\nREPORT Unsure\nNUMBER\n");
  assert.equal(peer.client.closed, true);
  // Ending the game now is quiet: there is no one to tell.
  await game.end();
});

Deno.test("Client rejects with ServerError on an ERROR reply and stays usable", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(
    peer.conn,
    answers("ERROR No game in progress: send PARAMS lower upper first\n", "3\n"),
  );
  const game = await peer.client.session(1, 5, 3);
  await assert.rejects(game.requestNumber(), (error: unknown) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.name, "ServerError");
    assert.equal(error.message, "No game in progress: send PARAMS lower upper first");
    return true;
  });
  assert.equal(peer.client.closed, false);
  assert.equal(await game.requestNumber(), 3);
  assert.equal(await game.reportOutcome(3), "Correct");
  await game.end();
  await game.end(); // idempotent
  await peer.client.close();
  assert.equal(await received, "PARAMS 1 5\nNUMBER\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n");
});

Deno.test("Client rejects with ProtocolError when the server stalls past the timeout", async () => {
  await using peer = await fakeServer(200);
  const received = scriptedPeer(peer.conn, () => undefined);
  const game = await peer.client.session(1, 5, 3);
  const started = performance.now();
  await assert.rejects(
    withTimeout(game.requestNumber(), 2_000, "the client's own timeout"),
    { name: "ProtocolError", message: "No reply within 200 ms" },
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 1_500, `timed out after ${elapsed} ms`);
  assert.equal(peer.client.closed, true);
  assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
});

Deno.test("Client's await using game sends PARAMS 0 -1 when the body throws", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("4\n"));
  const boom = new Error("Boom");
  let caught: unknown;
  try {
    await using game = await peer.client.session(1, 5, 3);
    await game.requestNumber();
    throw boom;
  } catch (error) {
    caught = error;
  }
  assert.equal(caught, boom, "the body's error comes out unchanged");
  assert.equal(peer.client.closed, false);
  await peer.client.close();
  assert.equal(await received, "PARAMS 1 5\nNUMBER\nPARAMS 0 -1\n");
});

Deno.test("Client's await using game sends PARAMS 0 -1 after a ServerError", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("ERROR Range exhausted\n"));
  let caught: unknown;
  try {
    await using game = await peer.client.session(1, 5, 3);
    await game.requestNumber();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ServerError);
  assert.equal(caught.message, "Range exhausted");
  await peer.client.close();
  assert.equal(await received, "PARAMS 1 5\nNUMBER\nPARAMS 0 -1\n");
});

Deno.test("Client's requestNumbers() stops after Correct and after count", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("3\n", "1\n", "2\n"));
  const seen: number[] = [];
  {
    await using game = await peer.client.session(1, 5, 3);
    for await (const n of game.requestNumbers(5)) {
      seen.push(n);
      await game.reportOutcome(n);
    }
  }
  {
    await using game = await peer.client.session(1, 5, 4);
    for await (const n of game.requestNumbers(2)) {
      seen.push(n);
      await game.reportOutcome(n);
    }
  }
  await peer.client.close();
  assert.deepEqual(seen, [3, 1, 2]);
  assert.equal(
    await received,
    "PARAMS 1 5\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n" +
      "PARAMS 1 5\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Warmer\nPARAMS 0 -1\n",
  );
});

Deno.test("Client.session() refuses a secret outside the range without sending", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, () => undefined);
  for (const [lower, upper, secret] of [[1, 5, 6], [1, 5, 0], [5, 1, 3], [1.5, 5, 3]]) {
    await assert.rejects(peer.client.session(lower, upper, secret), RangeError);
  }
  await peer.client.close();
  assert.equal(await received, "");
});

Deno.test("Client calls reject with ProtocolError once it is closed", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, () => undefined);
  await peer.client.close();
  await peer.client.close(); // idempotent
  await assert.rejects(peer.client.session(1, 5, 3), {
    name: "ProtocolError",
    message: "Connection is closed",
  });
  assert.equal(await received, "");
});

Deno.test("connect() to a closed port rejects with ConnectError naming the address", async () => {
  const port = closedPort();
  await assert.rejects(
    withTimeout(connect({ hostname: LOCAL, port, timeout: 2_000 }), 3_000, "connect"),
    (error: unknown) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(error.reason, "refused");
      assert.equal(error.message, `Cannot connect to 127.0.0.1:${port}: connection refused`);
      assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
      return true;
    },
  );
});

Deno.test("connect() to a host that does not resolve rejects with ConnectError naming it", async () => {
  await assert.rejects(
    withTimeout(connect({ hostname: "nohost.invalid", port: 1, timeout: 2_000 }), 3_000, "connect"),
    { name: "ConnectError", message: 'Cannot resolve host "nohost.invalid"' },
  );
});

Deno.test("Client plays the seed's demo over in-memory streams against serveStreams", async () => {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const serving = serveStreams(up.readable, down.writable, { seed: 1 });
  const results: [number, Decision][] = [];
  {
    await using client = new Client(down.readable, up.writable, { timeout: 2_000 });
    for (const [lower, upper, secret] of [[1, 5, 3], [10, 15, 12]]) {
      await using game = await client.session(lower, upper, secret);
      for await (const n of game.requestNumbers(5)) {
        results.push([n, await game.reportOutcome(n)]);
      }
    }
  }
  await withTimeout(serving, 2_000, "the in-memory server ending");
  // The same guesses as the state machine with the same seed, over no transport at all.
  const games: [number, number, number][] = [[1, 5, 3], [10, 15, 12]];
  assert.deepEqual(results, playSeedDemo(new Session({ rng: new Rng(1) }), games));
});

Deno.test("Client rejects a bad argument with RangeError before sending, and stays usable", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("3\n"));
  await assert.rejects(peer.client.params(1.5, 5), RangeError);
  await assert.rejects(peer.client.params(1, Number.MAX_SAFE_INTEGER + 1), RangeError);
  await assert.rejects(peer.client.report("Hot" as Decision), RangeError);
  assert.equal(peer.client.closed, false);
  await peer.client.params(1, 5);
  assert.equal(await peer.client.number(), 3);
  await peer.client.report("Correct");
  await peer.client.close();
  assert.equal(await received, "PARAMS 1 5\nNUMBER\nREPORT Correct\n");
});

Deno.test("Client.number() checks the reply against the last PARAMS with checkGuess", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, answers("10\n", "11\n"));
  await peer.client.params(10, 10);
  assert.equal(await peer.client.number(), 10);
  await peer.client.params(1, 5);
  await assert.rejects(peer.client.number(), {
    name: "ProtocolError",
    message: "Reply 11 is outside the game's range [1, 5]",
  });
  assert.equal(peer.client.closed, true);
  assert.equal(await received, "PARAMS 10 10\nNUMBER\nPARAMS 1 5\nNUMBER\n");
});

Deno.test("checkGuess() is the one reply rule: in range, ServerError, or ProtocolError", () => {
  assert.equal(checkGuess({ type: "number", value: -5 }, -5, -1), -5);
  assert.throws(() => checkGuess({ type: "number", value: 0 }, -5, -1), {
    name: "ProtocolError",
    message: "Reply 0 is outside the game's range [-5, -1]",
  });
  assert.throws(() => checkGuess({ type: "error", message: "Range exhausted" }, 1, 5), {
    name: "ServerError",
    message: "Range exhausted",
  });
});

Deno.test("Client raises the server's ERROR line sent before a close, not a write error", async () => {
  await using peer = await fakeServer();
  // As a busy server does: its line at once, then a close (no read first).
  await writeText(peer.conn, "ERROR Server busy: 1 connections, try again later\n");
  peer.conn.close();
  let caught: unknown;
  try {
    await using game = await peer.client.session(1, 5, 3);
    await game.requestNumber();
  } catch (error) {
    caught = error;
  }
  // Not a SuppressedError from disposal, not "Broken pipe": the server's own words.
  assert.ok(caught instanceof ServerError, `got ${caught}`);
  assert.equal(caught.message, "Server busy: 1 connections, try again later");
  assert.equal(peer.client.closed, true);
  await assert.rejects(peer.client.number(), ServerError);
});

Deno.test("Client raises ERROR Server shutting down sent between a reply and its REPORT", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, (line) => {
    if (line !== "NUMBER") return undefined;
    // The reply, then the server's goodbye while the client is still judging.
    return "2\nERROR Server shutting down\n";
  });
  let caught: unknown;
  try {
    await using game = await peer.client.session(1, 5, 3);
    assert.equal(await game.requestNumber(), 2);
    await game.reportOutcome(2);
    await game.requestNumber();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ServerError, `got ${caught}`);
  assert.equal(caught.message, "Server shutting down");
  assert.equal(peer.client.closed, true);
  assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
});

Deno.test("Client escapes control characters in the server's ERROR text", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(
    peer.conn,
    answers("ERROR \x1b]0;pwned\x07\x1b[2J\x1b[31mRED\x1b[0m\rfake\n"),
  );
  await peer.client.params(1, 5);
  await assert.rejects(peer.client.number(), (error: unknown) => {
    assert.ok(error instanceof ServerError);
    assert.equal(
      error.message,
      "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{1b}[31mRED\\u{1b}[0m\\u{d}fake",
    );
    assert.match(error.message, /^[\x20-\x7e]*$/, "printable ASCII only");
    return true;
  });
  await peer.client.close();
  assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
});

Deno.test("Client rejects a line that arrives with no NUMBER outstanding as a ProtocolError", async () => {
  await using peer = await fakeServer();
  // A server that sends each reply twice.
  const received = scriptedPeer(peer.conn, (line) => line === "NUMBER" ? "1\n1\n" : undefined);
  await peer.client.params(1, 5);
  assert.equal(await peer.client.number(), 1);
  await assert.rejects(peer.client.report("Unsure"), {
    name: "ProtocolError",
    message: 'Server sent "1" with no NUMBER outstanding',
  });
  assert.equal(peer.client.closed, true);
  assert.equal(await received, "PARAMS 1 5\nNUMBER\n");
});

Deno.test("Client closes on a number sent before any NUMBER, and says why", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(peer.conn, () => undefined);
  await writeText(peer.conn, "7\n");
  // The client hangs up at once: the scripted peer sees the end.
  assert.equal(await received, "");
  assert.equal(peer.client.closed, true);
  await assert.rejects(peer.client.params(1, 5), {
    name: "ProtocolError",
    message: 'Server sent "7" with no NUMBER outstanding',
  });
  await assert.rejects(peer.client.number(), {
    name: "ProtocolError",
    message: "Connection is closed",
  });
});

Deno.test("Client rejects a last reply cut off by the close as a ProtocolError", async () => {
  await using peer = await fakeServer();
  await peer.client.params(1, 20);
  const numbering = peer.client.number();
  assert.equal(await readLines(peer.conn, 2), "PARAMS 1 20\nNUMBER\n");
  // "1", the start of "12", then the close.
  await writeText(peer.conn, "1");
  peer.conn.close();
  await assert.rejects(numbering, {
    name: "ProtocolError",
    message: 'Server closed the connection in the middle of a line: "1"',
  });
  assert.equal(peer.client.closed, true);
});

/**
 * A listener whose accept queue is full: python's `listen(0)` queues one
 * connection and is never accepted, so the next connect waits for the kernel.
 */
async function fullAcceptQueue() {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket, sys\n" +
      "s = socket.socket()\n" +
      "s.bind(('127.0.0.1', 0))\n" +
      "s.listen(0)\n" +
      "print(s.getsockname()[1], flush=True)\n" +
      "sys.stdin.read()\n",
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await withTimeout(reader.read(), 5_000, "python's port");
  reader.releaseLock();
  const port = Number(new TextDecoder().decode(first.value).trim());
  const queued = await Deno.connect({ hostname: LOCAL, port });
  return {
    port,
    async [Symbol.asyncDispose]() {
      queued.close();
      await child.stdin.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}

Deno.test("connect() gives up at its timeout and aborts the pending connect", async () => {
  await using queue = await fullAcceptQueue();
  // The op sanitizer fails this test if the connect is still pending at its end.
  await assert.rejects(
    withTimeout(connect({ hostname: LOCAL, port: queue.port, timeout: 200 }), 5_000, "connect"),
    (error: unknown) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(error.reason, "timeout");
      assert.equal(error.message, `Cannot connect to 127.0.0.1:${queue.port} within 200 ms`);
      return true;
    },
  );
});

/** Runs `guess play --connect` in-process against a listener; returns status and lines. */
async function playConnect(listener: Deno.TcpListener, ...extra: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(
    ["play", "--connect", `${LOCAL}:${listener.addr.port}`, ...extra],
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { status, out, err };
}

Deno.test("play --connect shows a busy server's ERROR line, escaped, not Broken pipe", async () => {
  using listener = Deno.listen({ hostname: LOCAL, port: 0 });
  const serving = (async () => {
    using conn = await acceptOne(listener);
    await writeText(conn, "ERROR Server busy: 1 connections, try again later\x1b[2J\n");
  })();
  const { status, out, err } = await playConnect(listener);
  await serving;
  assert.equal(status, 1);
  assert.deepEqual(out, ["\nGuess a number between 1 and 5! Shhhhh, it's 3."]);
  assert.deepEqual(err, [
    "guess: Server error: Server busy: 1 connections, try again later\\u{1b}[2J",
  ]);
});

Deno.test("play --connect shows Server shutting down sent mid-game, not a SuppressedError", async () => {
  using listener = Deno.listen({ hostname: LOCAL, port: 0 });
  const serving = (async () => {
    using conn = await acceptOne(listener);
    await scriptedPeer(
      conn,
      (line) => line === "NUMBER" ? "4\nERROR Server shutting down\n" : undefined,
    );
  })();
  const { status, err } = await playConnect(listener);
  await serving;
  assert.equal(status, 1);
  assert.deepEqual(err, ["guess: Server error: Server shutting down"]);
});

Deno.test("play --connect --timeout S gives up connecting after S seconds", async () => {
  await using queue = await fullAcceptQueue();
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(
    ["play", "--connect", `${LOCAL}:${queue.port}`, "--timeout", "1"],
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  assert.equal(status, 1);
  assert.deepEqual(err, [
    `guess: Cannot connect to 127.0.0.1:${queue.port} within 1000 ms; ` +
    "is the server up and reachable? --timeout S waits longer",
  ]);
});

Deno.test("play --connect to a host that does not resolve names the host", async () => {
  const err: string[] = [];
  const status = await main(["play", "--connect", "nohost.invalid:1"], {
    out: () => {},
    err: (line) => err.push(line),
  });
  assert.equal(status, 1);
  assert.deepEqual(err, [
    'guess: Cannot resolve host "nohost.invalid"; check the HOST of --connect HOST:PORT',
  ]);
});

Deno.test("play --timeout without --connect is a usage error", async () => {
  const err: string[] = [];
  const status = await main(["play", "--timeout", "1"], { out: () => {}, err: (l) => err.push(l) });
  assert.equal(status, 2);
  assert.match(err[0], /^guess: --timeout applies to --connect\n/);
});

Deno.test("Client raises the real server's ERROR Idle timeout at the next command", async () => {
  const kicked = Promise.withResolvers<void>();
  await using server = serve({
    hostname: LOCAL,
    port: 0,
    idleTimeout: 50,
    logger: {
      verbose: false,
      log(_level, message) {
        if (message.startsWith("Idle timeout")) kicked.resolve();
      },
    },
  });
  await using client = await connect({ hostname: LOCAL, port: server.addr.port, timeout: 2_000 });
  let caught: unknown;
  try {
    await using game = await client.session(1, 5, 3);
    const n = await game.requestNumber();
    // The person thinks too long: the server gives up on the connection.
    await withTimeout(kicked.promise, 5_000, "the server's idle timeout");
    await game.reportOutcome(n);
    await game.requestNumber();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ServerError, `got ${caught}`);
  assert.equal(caught.message, "Idle timeout");
});

Deno.test("Client raises the real server's ERROR Server busy, not Broken pipe", async () => {
  await using server = serve({ hostname: LOCAL, port: 0, maxConnections: 1 });
  await using first = await connect({ hostname: LOCAL, port: server.addr.port, timeout: 2_000 });
  {
    // The first connection holds the one slot (a reply proves it was accepted).
    await using game = await first.session(1, 1, 1);
    assert.equal(await game.requestNumber(), 1);
  }
  await using second = await connect({ hostname: LOCAL, port: server.addr.port, timeout: 2_000 });
  let caught: unknown;
  try {
    await using game = await second.session(1, 5, 3);
    await game.requestNumber();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ServerError, `got ${caught}`);
  assert.match(caught.message, /^Server busy: 1 connections?, try again later$/);
});

Deno.test("Client.number() with no game: ERROR is a ServerError, a number a ProtocolError", async () => {
  await using peer = await fakeServer();
  const received = scriptedPeer(
    peer.conn,
    answers("ERROR No game in progress: send PARAMS lower upper first\n", "4\n"),
  );
  await assert.rejects(peer.client.number(), {
    name: "ServerError",
    message: "No game in progress: send PARAMS lower upper first",
  });
  assert.equal(peer.client.closed, false);
  await assert.rejects(peer.client.number(), {
    name: "ProtocolError",
    message: "Reply 4 with no game in progress",
  });
  assert.equal(peer.client.closed, true);
  assert.equal(await received, "NUMBER\nNUMBER\n");
});
