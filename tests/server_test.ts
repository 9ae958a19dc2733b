import assert from "node:assert/strict";
import { type GameEvent, judge, ServerConnection } from "../protocol.ts";
import { serve, serveStreams } from "../server.ts";
import { Rng } from "../strategy.ts";
import { createLogger } from "../log.ts";
import {
  decode,
  encode,
  readLines,
  readToEnd,
  readUntil,
  withTimeout,
  writeText,
} from "./helpers.ts";

const LOCAL = "127.0.0.1";
const NO_GAME = "ERROR No game in progress: send PARAMS lower upper first\n";
const UNKNOWN = ": expected PARAMS, NUMBER or REPORT";
const SAFE = "[-9007199254740991, 9007199254740991]";
const TOO_LONG = "ERROR Line too long: the limit is 1024 bytes, closing\n";

async function dial(port: number): Promise<Deno.TcpConn> {
  const conn = await withTimeout(Deno.connect({ hostname: LOCAL, port }), 2_000, "connecting");
  // One small command per write: without this, Nagle waits for delayed ACKs (40 ms each).
  conn.setNoDelay(true);
  return conn;
}

/** Sends `text` and reads until `expected.length` bytes came back (or the peer closed). */
async function exchange(conn: Deno.Conn, text: string, expectedLength: number): Promise<string> {
  await writeText(conn, text);
  return await readUntil(conn, (got) => encode(got).length >= expectedLength);
}

/**
 * The model of one TCP connection of `serve({ seed })`: the sans-I/O core with
 * the random source the server gives its first connection.
 */
function firstConnectionModel(seed: number): ServerConnection {
  return new ServerConnection({ rng: new Rng(seed).fork() });
}

Deno.test("serve() plays the seed's demo with exact bytes", async () => {
  await using server = serve({ port: 0, seed: 7 });
  using conn = await dial(server.addr.port);
  const model = firstConnectionModel(7);
  let transcript = "";
  for (const [lower, upper, secret] of [[1, 5, 3], [10, 15, 12]]) {
    let previous: bigint | undefined;
    const start = `PARAMS ${lower} ${upper}\n`;
    assert.equal(model.receive(encode(start)), "");
    await writeText(conn, start);
    transcript += start;
    for (let i = 0; i < 5; i++) {
      const expected = model.receive(encode("NUMBER\n"));
      const reply = await exchange(conn, "NUMBER\n", expected.length);
      assert.equal(reply, expected);
      const guess = Number(reply);
      assert.ok(guess >= lower && guess <= upper, `${guess} in [${lower}, ${upper}]`);
      const { decision, distance } = judge(secret, guess, previous);
      previous = distance;
      const report = `REPORT ${decision}\n`;
      model.receive(encode(report));
      await writeText(conn, report);
      transcript += `NUMBER\n${reply}${report}`;
      if (decision === "Correct") break;
    }
    await writeText(conn, "PARAMS 0 -1\n");
    model.receive(encode("PARAMS 0 -1\n"));
    transcript += "PARAMS 0 -1\n";
  }
  assert.match(
    transcript,
    /^PARAMS 1 5\n(NUMBER\n[1-5]\nREPORT (Warmer|Colder|Unsure|Correct)\n){1,5}PARAMS 0 -1\nPARAMS 10 15\n(NUMBER\n1[0-5]\nREPORT (Warmer|Colder|Unsure|Correct)\n){1,5}PARAMS 0 -1\n$/,
  );
  // Nothing else came back: the next reply is exactly the next answer.
  assert.equal(await exchange(conn, "NUMBER\n", NO_GAME.length), NO_GAME);
});

Deno.test("serve() answers a one-value game with exactly its value", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 3 3\nNUMBER\n", 2), "3\n");
  assert.equal(await exchange(conn, "REPORT Correct\nNUMBER\n", 2), "3\n");
  assert.equal(await exchange(conn, "PARAMS -8 -8\nNUMBER\n", 3), "-8\n");
});

Deno.test("serve() answers pipelined commands of one write in order", async () => {
  await using server = serve({ port: 0, seed: 3 });
  using conn = await dial(server.addr.port);
  const input = "PARAMS 1 5\n" + "NUMBER\n".repeat(5) + "REPORT Correct\n" +
    "NUMBER\n".repeat(3) + "PARAMS 0 -1\nNUMBER\n";
  const expected = firstConnectionModel(3).receive(encode(input));
  const lines = expected.split("\n");
  assert.deepEqual(lines.slice(0, 5).map(Number).toSorted(), [1, 2, 3, 4, 5]);
  assert.deepEqual(lines.slice(5, 8), [lines[4], lines[4], lines[4]]);
  assert.equal(lines.slice(8).join("\n"), NO_GAME);
  assert.equal(await exchange(conn, input, expected.length), expected);
});

Deno.test("serve() answers 1000 pipelined NUMBERs with the whole range, in order", async () => {
  await using server = serve({ port: 0, seed: 4 });
  using conn = await dial(server.addr.port);
  const input = "PARAMS 1 1000\n" + "NUMBER\n".repeat(1000);
  const expected = firstConnectionModel(4).receive(encode(input));
  const reply = await exchange(conn, input, expected.length);
  assert.equal(reply, expected);
  const values = reply.trimEnd().split("\n").map(Number);
  assert.deepEqual(values.toSorted((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1));
});

/** Every bad line with its exact reply; none closes the connection. */
const ERROR_CASES: [string, string][] = [
  ["HELLO\n", `ERROR Unknown command "HELLO"${UNKNOWN}\n`],
  ["\n", `ERROR Empty line${UNKNOWN}\n`],
  ["number\n", `ERROR Unknown command "number"${UNKNOWN}\n`],
  ["PARAMS 1\n", "ERROR PARAMS takes 2 arguments (PARAMS lower upper), got 1\n"],
  ["PARAMS 1 2 3\n", "ERROR PARAMS takes 2 arguments (PARAMS lower upper), got 3\n"],
  ["PARAMS  1 2\n", "ERROR PARAMS takes 2 arguments (PARAMS lower upper), got 3\n"],
  ["PARAMS 1  5\n", "ERROR PARAMS takes 2 arguments (PARAMS lower upper), got 3\n"],
  ["NUMBER 1\n", "ERROR NUMBER takes 0 arguments (NUMBER), got 1\n"],
  ["REPORT\n", "ERROR REPORT takes 1 argument (REPORT decision), got 0\n"],
  ["PARAMS 1.5 2\n", 'ERROR Lower bound is not a decimal integer: "1.5"\n'],
  ["PARAMS +3 5\n", 'ERROR Lower bound is not a decimal integer: "+3"\n'],
  ["PARAMS 1 0x10\n", 'ERROR Upper bound is not a decimal integer: "0x10"\n'],
  [
    "PARAMS 99999999999999999999 1\n",
    `ERROR Lower bound is outside ${SAFE}: "99999999999999999999"\n`,
  ],
  ["REPORT Hot\n", 'ERROR Unknown decision "Hot": expected Warmer, Colder, Unsure or Correct\n'],
  ["NUMBER\n", NO_GAME],
  ["REPORT Warmer\n", NO_GAME],
  ["NUM\rBER\n", `ERROR Unknown command "NUM\\rBER"${UNKNOWN}\n`],
  ["NUM\x00BER\r\n", `ERROR Unknown command "NUM\\u0000BER"${UNKNOWN}\n`],
  ["\xff\n", `ERROR Unknown command "\\u{ff}"${UNKNOWN}\n`],
];

Deno.test("serve() answers each bad line with one exact ERROR line and stays usable", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  for (const [line, reply] of ERROR_CASES) {
    assert.equal(await exchange(conn, line, encode(reply).length), reply, JSON.stringify(line));
  }
  // Invalid UTF-8 on the wire.
  await writeText(conn, Uint8Array.of(0x4e, 0xff, 0xfe, 0x0a));
  assert.equal(await readLines(conn, 1), "ERROR Line is not valid UTF-8\n");
  // REPORT with no guess, then range exhausted, inside a game.
  const noGuess = "ERROR No guess to judge: send NUMBER first\n";
  assert.equal(await exchange(conn, "PARAMS 1 2\nREPORT Unsure\n", noGuess.length), noGuess);
  const exhausted = "ERROR Range exhausted: every value in [1, 2] was guessed\n";
  const two = await exchange(conn, "NUMBER\nNUMBER\nNUMBER\n", 4 + exhausted.length);
  assert.match(
    two,
    /^([12])\n(?!\1)[12]\nERROR Range exhausted: every value in \[1, 2\] was guessed\n$/,
  );
  assert.equal(await exchange(conn, "PARAMS 4 4\nNUMBER\n", 2), "4\n");
});

Deno.test("serve() answers all bad lines of one write, concatenated in order", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  const input = ERROR_CASES.map(([line]) => line).join("") + "PARAMS 9 9\nNUMBER\n";
  const expected = ERROR_CASES.map(([, reply]) => reply).join("") + "9\n";
  assert.equal(await exchange(conn, input, encode(expected).length), expected);
});

Deno.test("serve() accepts \\r\\n line ends", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 2 2\r\nNUMBER\r\n", 2), "2\n");
  assert.equal(await exchange(conn, "REPORT Correct\r\nNUMBER\r\n", 2), "2\n");
});

Deno.test("serve() answers the lines before one over the limit, then ERROR, then closes, ignoring the rest", async () => {
  await using server = serve({ port: 0 });
  // Without a newline, with one, with a command after it (never answered), and far
  // over the limit in one write (the server must not wait for a newline).
  for (
    const [size, tail] of [[1025, ""], [1025, "\n"], [1025, "\nNUMBER\n"], [20_000, ""]] as const
  ) {
    using conn = await dial(server.addr.port);
    await writeText(conn, "PARAMS 1 1\nNUMBER\n" + "x".repeat(size) + tail);
    assert.equal(
      await readToEnd(conn),
      "1\n" + TOO_LONG,
      `${size} bytes, tail ${JSON.stringify(tail)}`,
    );
  }
});

Deno.test("serve() accepts a line of exactly the limit", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  const reply = `ERROR Unknown command "${"x".repeat(24)}"...${UNKNOWN}\n`;
  assert.equal(await exchange(conn, "x".repeat(1024) + "\n", reply.length), reply);
  assert.equal(await exchange(conn, "PARAMS 5 5\nNUMBER\n", 2), "5\n");
});

Deno.test("serve() applies maxLineBytes", async () => {
  await using server = serve({ port: 0, maxLineBytes: 16 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 1 1\nNUMBER\n", 2), "1\n");
  await writeText(conn, "PARAMS 1 100000000\n");
  assert.equal(await readToEnd(conn), "ERROR Line too long: the limit is 16 bytes, closing\n");
});

Deno.test("serve() keeps two connections' games apart", async () => {
  await using server = serve({ port: 0 });
  using a = await dial(server.addr.port);
  using b = await dial(server.addr.port);
  await writeText(a, "PARAMS 100 199\n");
  await writeText(b, "PARAMS 1 3\n");
  const fromA: number[] = [];
  const fromB: number[] = [];
  for (let i = 0; i < 3; i++) {
    fromA.push(Number(await exchange(a, "NUMBER\n", 4)));
    fromB.push(Number(await exchange(b, "NUMBER\n", 2)));
  }
  assert.deepEqual(fromB.toSorted(), [1, 2, 3]);
  const exhausted = "ERROR Range exhausted: every value in [1, 3] was guessed\n";
  assert.equal(await exchange(b, "NUMBER\n", exhausted.length), exhausted);
  // A's bad line and its close do not touch B.
  const hello = `ERROR Unknown command "HELLO"${UNKNOWN}\n`;
  assert.equal(await exchange(a, "HELLO\n", hello.length), hello);
  fromA.push(Number(await exchange(a, "NUMBER\n", 4)));
  assert.equal(new Set(fromA).size, 4);
  assert.ok(fromA.every((n) => n >= 100 && n <= 199), `${fromA}`);
  await writeText(a, "y".repeat(2000));
  assert.equal(await readToEnd(a), TOO_LONG);
  assert.equal(await exchange(b, "PARAMS 7 7\nNUMBER\n", 2), "7\n");
});

Deno.test("serve() still answers what came before a half-close", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  // The last line has no newline: the end of input completes it.
  await writeText(conn, "PARAMS 5 5\nNUMBER\nREPORT Correct\nNUMBER\nNUMBER");
  await conn.closeWrite();
  assert.equal(await readToEnd(conn), "5\n5\n5\n");
});

Deno.test("serve() onListen gets the real address", async () => {
  let heard: Deno.NetAddr | undefined;
  await using server = serve({ port: 0, onListen: (addr) => heard = addr });
  assert.ok(heard, "onListen was called before serve() returned");
  assert.equal(heard.hostname, LOCAL);
  assert.notEqual(heard.port, 0);
  assert.deepEqual(heard, server.addr);
  assert.equal(server.addr.transport, "tcp");
});

Deno.test("serve() shutdown() stops it, resolves finished and is idempotent", async () => {
  await using server = serve({ port: 0 });
  const port = server.addr.port;
  using conn = await dial(port);
  assert.equal(await exchange(conn, "PARAMS 1 1\nNUMBER\n", 2), "1\n");
  conn.close();
  const first = server.shutdown();
  const second = server.shutdown();
  await withTimeout(Promise.all([first, second, server.finished]), 3_000, "shutdown");
  await assert.rejects(Deno.connect({ hostname: LOCAL, port }), Deno.errors.ConnectionRefused);
});

Deno.test("serve() stops at the end of an await using block", async () => {
  let port: number;
  let finished: Promise<void>;
  {
    await using server = serve({ port: 0 });
    port = server.addr.port;
    finished = server.finished;
  }
  await withTimeout(finished, 1_000, "finished after disposal");
  await assert.rejects(Deno.connect({ hostname: LOCAL, port }), Deno.errors.ConnectionRefused);
});

Deno.test("serve() stops when its signal aborts", async () => {
  const controller = new AbortController();
  await using server = serve({ port: 0, signal: controller.signal });
  controller.abort();
  await withTimeout(server.finished, 3_000, "finished after abort");
  await assert.rejects(
    Deno.connect({ hostname: LOCAL, port: server.addr.port }),
    Deno.errors.ConnectionRefused,
  );
  // An already aborted signal stops it at once.
  await using stopped = serve({ port: 0, signal: AbortSignal.abort() });
  await withTimeout(stopped.finished, 3_000, "finished with an aborted signal");
});

Deno.test("serve() shutdown tells an idle connection and closes it", async () => {
  await using server = serve({ port: 0 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 1 1\nNUMBER\nPARAMS 0 -1\n", 2), "1\n");
  const stopping = server.shutdown();
  assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
  conn.close();
  await withTimeout(stopping, 3_000, "shutdown");
});

Deno.test("serve() shutdown lets a game finish, then closes", async () => {
  await using server = serve({ port: 0, grace: 5_000 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 6 6\nNUMBER\n", 2), "6\n");
  const stopping = server.shutdown();
  // Still in the game: it answers, until the game ends.
  assert.equal(await exchange(conn, "REPORT Correct\nNUMBER\n", 2), "6\n");
  await writeText(conn, "PARAMS 0 -1\n");
  assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
  conn.close();
  await withTimeout(stopping, 3_000, "shutdown");
});

Deno.test("serve() shutdown closes a game still open after the grace time", async () => {
  await using server = serve({ port: 0, grace: 50 });
  using conn = await dial(server.addr.port);
  assert.equal(await exchange(conn, "PARAMS 6 6\nNUMBER\n", 2), "6\n");
  const stopping = server.shutdown();
  assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
  conn.close();
  await withTimeout(stopping, 3_000, "shutdown");
});

Deno.test("serve() reports game events through onEvent", async () => {
  const events: GameEvent[] = [];
  await using server = serve({ port: 0, onEvent: (event) => events.push(event) });
  using conn = await dial(server.addr.port);
  await writeText(conn, "PARAMS 2 2\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n");
  await conn.closeWrite();
  assert.equal(await readToEnd(conn), "2\n");
  conn.close();
  await server.shutdown();
  assert.deepEqual(events, [
    { type: "start", lower: 2, upper: 2 },
    { type: "report", guess: 2, decision: "Correct" },
    { type: "end", guesses: 1 },
  ]);
});

/** Runs serveStreams over in-memory streams; resolves with all output. */
async function serveChunks(chunks: string[], seed = 1): Promise<{ out: string; closed: boolean }> {
  let out = "";
  let closed = false;
  await withTimeout(
    serveStreams(
      ReadableStream.from(chunks.map(encode)),
      new WritableStream({
        write: (chunk) => void (out += decode(chunk)),
        close: () => void (closed = true),
      }),
      { seed },
    ),
    2_000,
    "serveStreams",
  );
  return { out, closed };
}

Deno.test("serveStreams() plays one session over in-memory streams", async () => {
  const input = "PARAMS 1 5\nNUMBER\nNUMBER\nREPORT Correct\nNUMBER\nBAD\n";
  const expected = new ServerConnection({ rng: new Rng(5) }).receive(encode(input));
  assert.match(expected, /^[1-5]\n[1-5]\n[1-5]\nERROR Unknown command "BAD"/);
  assert.deepEqual(await serveChunks([input], 5), { out: expected, closed: true });
  // Same bytes, byte by byte.
  assert.deepEqual(await serveChunks(input.split(""), 5), { out: expected, closed: true });
});

Deno.test("serveStreams() answers an unterminated last line at the end of input", async () => {
  assert.deepEqual(await serveChunks(["PARAMS 7 7\nNUM", "BER"]), { out: "7\n", closed: true });
});

Deno.test("serveStreams() ends the session on a line over the limit", async () => {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const writer = input.writable.getWriter();
  let out = "";
  let outputClosed!: () => void;
  const outputDone = new Promise<void>((resolve) => outputClosed = resolve);
  const serving = serveStreams(
    input.readable,
    new WritableStream({ write: (chunk) => void (out += decode(chunk)), close: outputClosed }),
  );
  writer.write(encode("x".repeat(2000))).catch(() => {});
  // The server ends its output first; the peer then ends its input.
  await withTimeout(outputDone, 2_000, "the output closing after a long line");
  assert.equal(out, TOO_LONG);
  await writer.close().catch(() => {});
  await withTimeout(serving, 1_000, "serveStreams once the input ended");
});

Deno.test("serve() rejects bad options before it listens, leaking nothing", () => {
  const bad: [Parameters<typeof serve>[0], RegExp][] = [
    [{ maxLineBytes: 0 }, /^Option maxLineBytes must be an integer of at least 1, got 0$/],
    [{ maxConnections: 1.5 }, /^Option maxConnections must be an integer/],
    [{ idleTimeout: -1 }, /^Option idleTimeout must be an integer of at least 1/],
    [{ grace: -1 }, /^Option grace must be an integer of at least 0, got -1$/],
    [{ seed: 1.5 }, /^Seed must be a safe integer, got 1.5$/],
    [{ strategy: "psychic" as "random" }, /^Option strategy must be one of random, bisect$/],
  ];
  for (const [options, message] of bad) {
    // The resource sanitizer fails this test if a listener was left open.
    assert.throws(() => serve({ port: 0, ...options }), { name: "RangeError", message });
  }
});

Deno.test("serveStreams() with a verbose logger logs the client's protocol errors escaped, and 'after 1 guess'", async () => {
  const lines: string[] = [];
  const logger = createLogger({ verbose: true, write: (line) => lines.push(line) });
  const input = ReadableStream.from([encode("HELLO\x1b[2J\nPARAMS 4 4\nNUMBER\nPARAMS 0 -1\n")]);
  await serveStreams(input, new WritableStream(), { logger });
  const error = lines.find((line) => / Protocol error/.test(line));
  assert.ok(error, lines.join("\n"));
  assert.ok(!error.includes("\x1b"), error);
  assert.match(error, /Unknown command/);
  assert.ok(
    lines.some((line) => line.endsWith("Z Game ended after 1 guess conn=0")),
    lines.join("\n"),
  );
});

Deno.test("serve() logs an IPv6 address in brackets", async () => {
  const lines: string[] = [];
  let server;
  try {
    server = serve({
      hostname: "::1",
      port: 0,
      logger: createLogger({ write: (line) => lines.push(line) }),
    });
  } catch (error) {
    // No IPv6 loopback on this machine: nothing to check.
    if (error instanceof Deno.errors.AddrNotAvailable) return;
    throw error;
  }
  await server.shutdown();
  assert.match(lines[0], /^\S+Z Listening on \[::1\]:\d+$/);
});

Deno.test("serve() with a JSON logger gives the Listening line host and port fields", async () => {
  const lines: string[] = [];
  await using server = serve({
    port: 0,
    logger: createLogger({ format: "json", write: (line) => lines.push(line) }),
  });
  const listening = JSON.parse(lines[0]);
  assert.equal(listening.msg, `Listening on 127.0.0.1:${server.addr.port}`);
  assert.equal(listening.host, "127.0.0.1");
  assert.equal(listening.port, server.addr.port);
  assert.match(listening.time, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
});

Deno.test("A text logger starts every line with an ISO 8601 time", () => {
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line) });
  logger.log("info", "Hello", { a: 1 });
  logger.log("warn", "Careful");
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z Hello a=1$/);
  assert.match(lines[1], /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN Careful$/);
});
