/**
 * Shared test helpers: bounded waits, reading a `Deno.Conn` or a byte stream
 * until something arrives, and running the CLI as a real subprocess. Every
 * wait here has a deadline, so a broken peer fails a test instead of hanging
 * it. Keep this file small and stable: other test files import it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Decision, judge, type Session } from "../protocol.ts";
import { main } from "../main.ts";
import { writeAll } from "../net.ts";

/** The CLI entry point, as a path for `deno run`. */
export const MAIN_PATH: string = new URL("../main.ts", import.meta.url).pathname;

/** The Python seed, the reference peer, as a path for `python3`. */
export const SEED_PATH: string = new URL("../interop/seed.py", import.meta.url).pathname;

/** The default deadline of the helpers below, in milliseconds. */
export const DEFAULT_TIMEOUT = 5_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes text as UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "./helpers.ts";
 * assert.equal(encode("A").length, 1);
 * ```
 */
export function encode(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 bytes (lenient: bad bytes become U+FFFD).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode } from "./helpers.ts";
 * assert.equal(decode(new Uint8Array([0x41])), "A");
 * ```
 */
export function decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Waits for `promise`, or rejects after `ms` with `Timed out after <ms> ms: <what>`.
 * The timer is always cleared, so the op sanitizer stays quiet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withTimeout } from "./helpers.ts";
 * const value = await withTimeout(Promise.resolve(1), 100, "a resolved promise");
 * assert.equal(value, 1);
 * ```
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Something to read bytes from: a `Deno.Conn`, or anything with its `read`. */
export interface Readable {
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Reads `conn` until `done(text so far)` is true, or the peer closes, or the
 * deadline passes (then it throws, quoting what did arrive). Returns all the
 * text read, so bytes beyond what `done` wanted show up in an exact assertion.
 *
 * @example
 * ```ts ignore
 * const text = await readUntil(conn, (text) => text.endsWith("\n"));
 * ```
 */
export async function readUntil(
  conn: Readable,
  done: (text: string) => boolean,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  const deadline = Date.now() + timeout;
  let text = "";
  while (!done(text)) {
    const left = deadline - Date.now();
    const what = `reading, got so far ${JSON.stringify(text)}`;
    const n = await withTimeout(conn.read(buffer), Math.max(1, left), what);
    if (n === null) break;
    text += decode(buffer.subarray(0, n));
  }
  return text;
}

/**
 * Reads `conn` until at least `count` newlines arrived (or the peer closed);
 * returns all the text read.
 *
 * @example
 * ```ts ignore
 * assert.equal(await readLines(conn, 2), "4\n3\n");
 * ```
 */
export function readLines(
  conn: Readable,
  count: number,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<string> {
  return readUntil(conn, (text) => text.split("\n").length > count, timeout);
}

/**
 * Reads `conn` until the peer closes its side (a read returns `null`); returns
 * all the text read. Throws when the deadline passes first.
 *
 * @example
 * ```ts ignore
 * assert.equal(await readToEnd(conn), "ERROR Line too long: the limit is 1024 bytes, closing\n");
 * ```
 */
export async function readToEnd(
  conn: Readable,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  const deadline = Date.now() + timeout;
  let text = "";
  for (;;) {
    const left = deadline - Date.now();
    const what = `waiting for the peer to close, got ${JSON.stringify(text)}`;
    const n = await withTimeout(conn.read(buffer), Math.max(1, left), what);
    if (n === null) return text;
    text += decode(buffer.subarray(0, n));
  }
}

/**
 * Writes all of `text` to `conn`.
 *
 * @example
 * ```ts ignore
 * await writeText(conn, "PARAMS 1 5\nNUMBER\n");
 * ```
 */
export async function writeText(
  conn: { write(bytes: Uint8Array): Promise<number> },
  text: string | Uint8Array,
): Promise<void> {
  await writeAll(conn, typeof text === "string" ? encode(text) : text);
}

/** A read that outlived its call's deadline, per reader: the next call takes it over. */
const pendingReads = new WeakMap<
  ReadableStreamDefaultReader<Uint8Array>,
  Promise<ReadableStreamReadResult<Uint8Array>>
>();

/**
 * Reads a byte stream (e.g. a child's stderr) through `reader` until `done`
 * is true for the text so far, the stream ends, or the deadline passes (then
 * it throws). Returns the text read; the reader stays usable: a read still
 * pending at a timeout is kept, and the next call on the same reader awaits
 * it first, so no chunk is lost.
 *
 * @example
 * ```ts ignore
 * const text = await readStreamUntil(reader, (t) => /Listening on \S+:\d+\n/.test(t));
 * ```
 */
export async function readStreamUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<string> {
  const deadline = Date.now() + timeout;
  let text = "";
  while (!done(text)) {
    const left = deadline - Date.now();
    const what = `reading a stream, got so far ${JSON.stringify(text)}`;
    const read = pendingReads.get(reader) ?? reader.read();
    pendingReads.set(reader, read);
    const { value, done: ended } = await withTimeout(read, Math.max(1, left), what);
    pendingReads.delete(reader);
    if (ended) break;
    text += decode(value);
  }
  return text;
}

/**
 * A loopback port nobody listens on, for tests of a refused connect: it binds
 * port 0, reads the port the system chose, and closes it. This is the one place
 * a test picks a port in advance, and only because it needs one that is closed;
 * every server in the tests listens on port 0 and reports its address. (Another
 * process could take the port in between; a refused connect is what is likely.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closedPort } from "./helpers.ts";
 * const port = closedPort();
 * await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), Deno.errors.ConnectionRefused);
 * ```
 */
export function closedPort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/**
 * Accepts one connection on `listener` within the deadline.
 *
 * @example
 * ```ts ignore
 * using peer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await acceptOne(peer);
 * ```
 */
export function acceptOne(
  listener: Deno.TcpListener,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<Deno.TcpConn> {
  return withTimeout(listener.accept(), timeout, "waiting for a connection");
}

/** What a finished subprocess left. */
export interface CliResult {
  /** The exit code. */
  code: number;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Everything it printed on stdout. */
  stdout: string;
  /** Everything it printed on stderr. */
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface CliOptions {
  /** `deno run` flags, e.g. `["--allow-net"]`. Default: none at all. */
  flags?: string[];
  /** Kill it after this many milliseconds. Default {@linkcode DEFAULT_TIMEOUT}. */
  timeout?: number;
}

/**
 * Runs `deno run [flags] main.ts ...args` as a real subprocess with stdin
 * null and no permissions unless `flags` grants some (`--no-prompt` is added so
 * a missing permission fails instead of waiting for an answer). Kills it at
 * the deadline (the result then shows the signal).
 *
 * @example
 * ```ts ignore
 * const { code, stdout } = await runCli(["--version"]);
 * ```
 */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...(options.flags ?? []), MAIN_PATH, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(options.timeout ?? DEFAULT_TIMEOUT),
  });
  const { code, signal, stdout, stderr } = await command.output();
  return { code, signal, stdout: decode(stdout), stderr: decode(stderr) };
}

/**
 * Starts `deno run [flags] main.ts ...args` with stdout and stderr piped and
 * stdin null; the caller reads, signals and awaits it. Disposing it kills the
 * process if it is still running and waits for it.
 *
 * @example
 * ```ts ignore
 * await using child = spawnCli(["serve", "--port", "0"], ["--allow-net"]);
 * ```
 */
export function spawnCli(args: string[], flags: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, MAIN_PATH, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/**
 * Returned by a {@linkcode scriptedPeer} script to close the connection there
 * (e.g. a server hanging up in the middle of a game).
 */
export const CLOSE: unique symbol = Symbol("close");

/**
 * Plays a scripted peer on `conn` (a fake server, byte by byte): reads lines
 * until the other side closes, calls `script(line)` for each complete line
 * and writes what it returns (`undefined`: nothing, e.g. to stall; `CLOSE`:
 * close the connection and stop). Resolves with every byte received, as
 * text; rejects when the deadline passes first.
 *
 * @example
 * ```ts ignore
 * const replies = ["4\n", "3\n"];
 * const received = scriptedPeer(conn, (line) => line === "NUMBER" ? replies.shift() : undefined);
 * ```
 */
export async function scriptedPeer(
  conn: Deno.Conn,
  script: (line: string) => string | Uint8Array | undefined | typeof CLOSE,
  timeout: number = DEFAULT_TIMEOUT,
): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  const deadline = Date.now() + timeout;
  let received = "";
  let pending = "";
  for (;;) {
    const left = deadline - Date.now();
    const what = `scripted peer, received ${JSON.stringify(received)}`;
    let n: number | null;
    try {
      n = await withTimeout(conn.read(buffer), Math.max(1, left), what);
    } catch (error) {
      // A reset by the other side ends the script like a close.
      if (error instanceof Deno.errors.ConnectionReset) return received;
      throw error;
    }
    if (n === null) return received;
    const text = decode(buffer.subarray(0, n));
    received += text;
    pending += text;
    let end: number;
    while ((end = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      const answer = script(line);
      if (answer === CLOSE) {
        conn.close();
        return received;
      }
      if (answer !== undefined) await writeText(conn, answer);
    }
  }
}

/**
 * Plays the seed's client against a Session: per game PARAMS, up to `count`
 * NUMBER/REPORT pairs (stopping at Correct), then PARAMS 0 -1. Returns each
 * guess with the client's decision: what the same seed gives over any transport.
 *
 * @example
 * ```ts ignore
 * const expected = playSeedDemo(new Session({ rng: new Rng(1) }), [[1, 5, 3]]);
 * ```
 */
export function playSeedDemo(
  session: Session,
  games: [number, number, number][],
  count = 5,
): [number, Decision][] {
  const results: [number, Decision][] = [];
  for (const [lower, upper, secret] of games) {
    assert.equal(session.handle({ type: "params", lower, upper }), undefined);
    let previous: bigint | undefined;
    for (let i = 0; i < count; i++) {
      const reply = session.handle({ type: "number" });
      assert.ok(reply?.type === "number", `NUMBER gets a number, got ${JSON.stringify(reply)}`);
      const verdict = judge(secret, reply.value, previous);
      previous = verdict.distance;
      assert.equal(session.handle({ type: "report", decision: verdict.decision }), undefined);
      results.push([reply.value, verdict.decision]);
      if (verdict.decision === "Correct") break;
    }
    assert.equal(session.handle({ type: "params", lower: 0, upper: -1 }), undefined);
  }
  return results;
}

/**
 * Runs `main(args)` in this process with its output captured, as a subprocess
 * would print it (each line then `\n`): for usage errors and output that need
 * no process of their own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runMain } from "./helpers.ts";
 * const { code, stdout, stderr } = await runMain(["--version"]);
 * assert.equal(code, 0);
 * assert.match(stdout, /^guess \d+\.\d+\.\d+\n$/);
 * assert.equal(stderr, "");
 * ```
 */
export async function runMain(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "", stderr = "";
  const code = await main(args, {
    out: (line) => void (stdout += line + "\n"),
    err: (line) => void (stderr += line + "\n"),
  });
  return { code, stdout, stderr };
}

/**
 * A WebSocket peer for tests: every message kept in order and awaitable;
 * closes its socket on disposal and waits for the close.
 *
 * @example Plays one line against `serve({ http })`'s `/ws`
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { WebSocketPeer } from "./helpers.ts";
 * await using server = serve({ port: 0, http: { port: 0 } });
 * const url = `ws://127.0.0.1:${server.httpAddr!.port}/ws`;
 * await using peer = await WebSocketPeer.open(url);
 * assert.match(await peer.ask("NUMBER"), /^ERROR /);
 * ```
 */
export class WebSocketPeer implements AsyncDisposable {
  /** The socket. */
  readonly socket: WebSocket;
  /** Every message received, in order. */
  readonly messages: string[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<CloseEvent>;
  /** Resolves when the socket is open, rejects when it cannot open. */
  readonly opened: Promise<void>;
  #wake: (() => void) | undefined;

  /** Starts opening a socket to `url` (see {@linkcode WebSocketPeer.open} to wait for it). */
  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.socket.onopen = () => resolve();
      this.socket.onerror = () => reject(new Error(`Cannot open ${url}`));
    });
    this.closed = new Promise((resolve) => {
      this.socket.onclose = (event) => {
        resolve(event);
        this.#wake?.();
      };
    });
    this.socket.onmessage = (event) => {
      this.messages.push(String(event.data));
      this.#wake?.();
    };
  }

  /**
   * Opens a peer and waits (at most 5 s) until its socket is open.
   *
   * @param url The `ws://` URL.
   * @returns The open peer.
   */
  static async open(url: string): Promise<WebSocketPeer> {
    const peer = new WebSocketPeer(url);
    await withTimeout(peer.opened, 5_000, `opening ${url}`);
    return peer;
  }

  /**
   * Sends a line and waits for the next message.
   *
   * @param line The message to send.
   * @returns The message that came next.
   */
  async ask(line: string): Promise<string> {
    const index = this.messages.length;
    this.socket.send(line);
    await this.until(index + 1);
    assert.ok(this.messages.length > index, `no reply to ${line}`);
    return this.messages[index];
  }

  /**
   * Waits (at most 5 s) until `count` messages arrived or the socket closed.
   *
   * @param count How many messages in all.
   * @returns Every message so far.
   */
  async until(count: number): Promise<string[]> {
    const done = withTimeout(this.closed, 5_000, `${count} messages`);
    let closed = false;
    done.then(() => closed = true, () => {});
    while (this.messages.length < count && !closed) {
      await Promise.race([new Promise<void>((resolve) => this.#wake = resolve), done]);
    }
    return this.messages;
  }

  /**
   * Waits (at most 5 s) for the server to close the socket.
   *
   * @returns Every message received.
   */
  async end(): Promise<string[]> {
    await withTimeout(this.closed, 5_000, "the server closing the WebSocket");
    return this.messages;
  }

  /** Closes the socket (once it is open) and waits until it has closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState === WebSocket.CONNECTING) await this.opened.catch(() => {});
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
    await this.closed;
  }
}

/** How many connections {@linkcode connectionsOn} opens at most to find one on each worker. */
export const MAX_TRIES = 200;

/**
 * Opens connections to `port` until one lands on each wanted worker (as
 * `workerOf` tells); returns them by worker. Every connection opened, kept
 * or not, is pushed to `opened` for the caller to close. Fails after
 * {@linkcode MAX_TRIES} connections.
 *
 * @param port The server's port on 127.0.0.1.
 * @param wanted The workers (1..N) to reach.
 * @param workerOf Which worker a connection landed on.
 * @param opened Receives every connection opened.
 * @returns One connection per wanted worker.
 *
 * @example One loop is "worker 1" for every connection
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { connectionsOn, playOneGame } from "./helpers.ts";
 * await using server = serve({ port: 0 });
 * const opened: Deno.TcpConn[] = [];
 * const conns = await connectionsOn(server.addr.port, [1], () => Promise.resolve(1), opened);
 * await playOneGame(conns.get(1)!);
 * assert.equal(opened.length, 1);
 * for (const conn of opened) conn.close();
 * ```
 */
export async function connectionsOn(
  port: number,
  wanted: readonly number[],
  workerOf: (conn: Deno.TcpConn) => Promise<number>,
  opened: Deno.TcpConn[],
): Promise<Map<number, Deno.TcpConn>> {
  const found = new Map<number, Deno.TcpConn>();
  for (let i = 0; i < MAX_TRIES && found.size < wanted.length; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    opened.push(conn);
    const worker = await workerOf(conn);
    if (wanted.includes(worker) && !found.has(worker)) found.set(worker, conn);
  }
  assert.equal(
    found.size,
    wanted.length,
    `${MAX_TRIES} connections did not reach workers ${wanted.join(", ")}`,
  );
  return found;
}

/**
 * Plays one finished game over [4, 4] on `conn`, then starts a second over
 * [2, 2] (abandoned when the connection closes), checking both replies.
 *
 * @param conn A connection to a server.
 *
 * @example
 * ```ts
 * import { serve } from "../server.ts";
 * import { playOneGame } from "./helpers.ts";
 * await using server = serve({ port: 0 });
 * using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
 * await playOneGame(conn);
 * ```
 */
export async function playOneGame(conn: Deno.TcpConn): Promise<void> {
  await writeText(conn, "PARAMS 4 4\nNUMBER\n");
  assert.equal(await readLines(conn, 1), "4\n");
  await writeText(conn, "REPORT Correct\nPARAMS 2 2\nNUMBER\n");
  assert.equal(await readLines(conn, 1), "2\n");
}
