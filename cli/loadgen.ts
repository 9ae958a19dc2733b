/**
 * The load generator behind `guess bench`: N connections to a guess server
 * that either play real games over 1..R, judging every reply with the
 * client's {@linkcode judge}, pipeline D `NUMBER`s per write, or make one
 * exchange each and then stay idle. Every run is bounded by its duration.
 * Reply latencies go into an HDR histogram (`hdr-histogram-js`).
 *
 * It talks to the socket directly (one reused read buffer per connection,
 * prebuilt command bytes, one write per round trip), so that on one core it
 * can drive a server running on another.
 *
 * @module
 */

import * as hdr from "hdr-histogram-js";
import process from "node:process";
import { checkGuess } from "../client.ts";
import { decodeLine, MAX_LINE_BYTES } from "../framing.ts";
import { Gate } from "../gate.ts";
import { describeError } from "../log.ts";
import { closeQuietly, writeAll } from "../net.ts";
import { type Decision, DECISIONS, judge, parseReply, ProtocolError } from "../protocol.ts";

/**
 * What each connection does.
 * - `game`: plays games over 1..R, one `NUMBER` in flight; each reply is
 *   judged and reported, `REPORT` and the next `NUMBER` go in one write.
 * - `pipeline`: writes `depth` `NUMBER`s at once and waits for all their
 *   replies; a new `PARAMS 1 R` comes before the game would run out of values.
 * - `idle`: one `PARAMS 1 R` + `NUMBER` exchange, then silence until the end.
 *
 * @example
 * ```ts
 * import type { LoadMode } from "./loadgen.ts";
 * const mode: LoadMode = { type: "pipeline", depth: 16 };
 * ```
 */
export type LoadMode =
  | { readonly type: "game" }
  | { readonly type: "pipeline"; readonly depth: number }
  | { readonly type: "idle" };

/**
 * Options of {@linkcode runLoad}.
 *
 * @example
 * ```ts
 * import type { LoadOptions } from "./loadgen.ts";
 * const options: LoadOptions = { port: 4321, connections: 50, duration: 5_000 };
 * ```
 */
export interface LoadOptions {
  /**
   * The server's host.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The server's port. */
  port: number;
  /**
   * How many connections at once.
   * @default {50}
   */
  connections?: number;
  /**
   * How long the run lasts, in milliseconds, connecting included.
   * @default {10000}
   */
  duration?: number;
  /**
   * The games' range is 1..range.
   * @default {100}
   */
  range?: number;
  /**
   * What each connection does.
   * @default {{ type: "game" }}
   */
  mode?: LoadMode;
  /** Aborting it ends the run early; the result covers the time until then. */
  signal?: AbortSignal;
  /**
   * Whether the connections pass a fairness {@linkcode Gate} after each reply,
   * so that at 1000 connections the load generator does not starve its own
   * sockets (gate.ts).
   * @default {true}
   */
  fairness?: boolean;
  /** Called about once a second while the run lasts. */
  onProgress?: (progress: LoadProgress) => void;
}

/**
 * A snapshot of a run in progress.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadProgress, progressLine } from "./loadgen.ts";
 * const progress: LoadProgress = { seconds: 2, roundTrips: 200, rate: 100, errors: 0, open: 5 };
 * assert.ok(progressLine(progress).includes("100 rt/s"));
 * ```
 */
export interface LoadProgress {
  /** Seconds since the start. */
  readonly seconds: number;
  /** Round trips so far. */
  readonly roundTrips: number;
  /** Round trips per second over the last interval. */
  readonly rate: number;
  /** Errors so far. */
  readonly errors: number;
  /** Connections open now. */
  readonly open: number;
}

/**
 * Reply latencies, in milliseconds.
 *
 * @example
 * ```ts
 * import type { Latency } from "./loadgen.ts";
 * const latency: Latency = { p50: 0.2, p90: 0.3, p99: 0.9, max: 4 };
 * ```
 */
export interface Latency {
  /** The median. */
  readonly p50: number;
  /** The 90th percentile. */
  readonly p90: number;
  /** The 99th percentile. */
  readonly p99: number;
  /** The largest. */
  readonly max: number;
}

/**
 * What a run measured. A round trip is one `NUMBER` answered by a valid
 * reply; replies still in flight when the run ends are not counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatResult, type LoadResult } from "./loadgen.ts";
 * const result: LoadResult = {
 *   mode: "game", depth: 1, range: 100, target: "127.0.0.1:4321", connections: 1,
 *   seconds: 1, roundTrips: 50, roundTripsPerSecond: 50, games: 1, gamesPerSecond: 1,
 *   errors: 0, firstError: undefined, peakOpen: 1, opened: 1,
 *   latency: { p50: 0.2, p90: 0.3, p99: 0.9, max: 4 }, cpuSeconds: 0.5,
 *   fairness: { min: 50, p10: 50, median: 50, max: 50, jain: 1, waitedOver1s: 0, neverAnswered: 0 },
 * };
 * assert.ok(formatResult(result).includes("50/s"));
 * ```
 */
export interface LoadResult {
  /** What each connection did. */
  readonly mode: LoadMode["type"];
  /** `NUMBER`s per write: the pipeline depth, 1 otherwise. */
  readonly depth: number;
  /** The games' range is 1..range. */
  readonly range: number;
  /** The server, as `host:port`. */
  readonly target: string;
  /** How many connections were asked for. */
  readonly connections: number;
  /** How long the run lasted, in seconds. */
  readonly seconds: number;
  /** `NUMBER`s answered by a valid reply. */
  readonly roundTrips: number;
  /** Round trips per second. */
  readonly roundTripsPerSecond: number;
  /** Games played to `Correct` (game mode only). */
  readonly games: number;
  /** Games per second. */
  readonly gamesPerSecond: number;
  /**
   * Bad replies (`ERROR`, malformed, out of range, unasked for), games longer
   * than the range, failed connects and connections lost before the end.
   */
  readonly errors: number;
  /** The first error's message, if any. */
  readonly firstError: string | undefined;
  /** The most connections open at the same time. */
  readonly peakOpen: number;
  /** Connections opened, reconnections after errors included. */
  readonly opened: number;
  /** Reply latencies, from the write of a `NUMBER` to the read of its reply. */
  readonly latency: Latency;
  /**
   * CPU time (user + system) this process used during the run, in seconds:
   * over `seconds`, how busy the load generator kept its core (a server in a
   * worker of the same process counts too).
   */
  readonly cpuSeconds: number;
  /** How evenly the connections were served. */
  readonly fairness: Fairness;
}

/**
 * How evenly a run's connections (slots) were served: their round trips, and
 * how long the worst waits were.
 *
 * @example
 * ```ts
 * import type { Fairness } from "./loadgen.ts";
 * const fairness: Fairness = {
 *   min: 90, p10: 95, median: 100, max: 104, jain: 0.99, waitedOver1s: 0, neverAnswered: 0,
 * };
 * ```
 */
export interface Fairness {
  /** The fewest round trips of one connection. */
  readonly min: number;
  /** The 10th percentile of round trips per connection. */
  readonly p10: number;
  /** The median round trips per connection. */
  readonly median: number;
  /** The most round trips of one connection. */
  readonly max: number;
  /** Jain's index of round trips per connection, (sum x)^2 / (n sum x^2): 1 when all are equal. */
  readonly jain: number;
  /** Connections that once waited more than 1 s for a reply (a wait still open at the end counts). */
  readonly waitedOver1s: number;
  /** Connections that never got a reply. */
  readonly neverAnswered: number;
}

/** One connection slot's share of a run. */
class SlotStats {
  roundTrips = 0;
  longestWait = 0;
  /** When the request now in flight was written, if one is. */
  waitingSince: number | undefined = performance.now();
}

const DEFAULTS = { hostname: "127.0.0.1", connections: 50, duration: 10_000, range: 100 };
/** Milliseconds a connection waits after an error before it reconnects. */
const RETRY_PAUSE = 10;
const READ_BUFFER = 4096;

const encoder = new TextEncoder();
const LF = 0x0a;
const CR = 0x0d;
const MINUS = 0x2d;
const ZERO = 0x30;

/** Everything a run shares: counters, the histogram, the open sockets, the stop. */
class Run {
  roundTrips = 0;
  games = 0;
  errors = 0;
  firstError: string | undefined;
  opened = 0;
  peakOpen = 0;
  stopped = false;
  readonly open = new Set<Deno.Conn>();
  /** Every connection passes it after each reply, so that none starves (gate.ts). */
  gate: Gate | undefined;
  readonly histogram = hdr.build({ numberOfSignificantValueDigits: 3 });
  readonly #timers = new Set<() => void>();
  readonly #stop = Promise.withResolvers<void>();
  /** Resolves when the run stops. */
  readonly stopping = this.#stop.promise;

  /** Counts `count` round trips of `slot` whose replies all arrived at `receivedAt`. */
  record(slot: SlotStats, sentAt: number, receivedAt: number, count = 1): void {
    this.roundTrips += count;
    slot.roundTrips += count;
    slot.longestWait = Math.max(slot.longestWait, receivedAt - sentAt);
    // Microseconds, at least 1: the histogram cannot hold 0.
    const micros = Math.max(1, Math.round((receivedAt - sentAt) * 1000));
    this.histogram.recordValueWithCount(micros, count);
  }

  fail(error: unknown): void {
    if (this.stopped) return;
    this.errors++;
    this.firstError ??= describeError(error);
  }

  add(conn: Deno.Conn): void {
    this.opened++;
    this.open.add(conn);
    if (this.open.size > this.peakOpen) this.peakOpen = this.open.size;
  }

  remove(conn: Deno.Conn): void {
    this.open.delete(conn);
    closeQuietly(conn);
  }

  /** Waits `ms` milliseconds, or less when the run stops. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#timers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#timers.add(done);
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const conn of this.open) closeQuietly(conn);
    for (const done of [...this.#timers]) done();
    this.#stop.resolve();
  }
}

/**
 * Reads replies from a socket into one reused buffer. Lines are at most
 * {@linkcode MAX_LINE_BYTES} long. Short plain numbers are parsed straight
 * from the bytes; anything else goes through {@linkcode parseReply}, so the
 * rules are the client's.
 */
class ReplyReader {
  readonly #conn: Deno.Conn;
  readonly #gate: Gate | undefined;
  readonly #buffer = new Uint8Array(READ_BUFFER);
  #start = 0;
  #end = 0;
  /** When the last read returned (`performance.now()`). */
  receivedAt = 0;

  /** `gate` is told of every read, as a server's is (gate.ts). */
  constructor(conn: Deno.Conn, gate: Gate | undefined) {
    this.#conn = conn;
    this.#gate = gate;
  }

  /** Bytes received and not yet taken as lines. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * The next reply, checked to be a number in 1..range, or `undefined` when
   * more bytes are needed.
   *
   * @throws {ServerError} For an `ERROR` reply.
   * @throws {ProtocolError} For any other reply that is not such a number.
   */
  number(range: number): number | undefined {
    const buffer = this.#buffer;
    const start = this.#start;
    const end = this.#end;
    const negative = start < end && buffer[start] === MINUS;
    const first = negative ? start + 1 : start;
    let value = 0;
    let digits = true;
    let i = first;
    for (; i < end; i++) {
      const digit = buffer[i] - ZERO;
      if (digit >= 0 && digit <= 9) value = value * 10 + digit;
      else if (buffer[i] === LF) break;
      else digits = false;
    }
    if (i === end) {
      if (end - start > MAX_LINE_BYTES) {
        throw new ProtocolError(`Reply line over ${MAX_LINE_BYTES} bytes`);
      }
      return undefined;
    }
    this.#start = i + 1;
    // Up to 15 digits is always a safe integer; the rest takes the long way.
    if (!digits || i === first || i - first > 15) {
      const line = buffer.subarray(start, buffer[i - 1] === CR ? i - 1 : i);
      return checkGuess(parseReply(decodeLine(line)), 1, range);
    }
    const guess = negative ? -value : value;
    // In range, as nearly every reply is: no reply object to build. Else checkGuess says why.
    if (guess >= 1 && guess <= range) return guess;
    return checkGuess({ type: "number", value: guess }, 1, range);
  }

  /** Reads more bytes. */
  async fill(): Promise<void> {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    } else if (this.#end === this.#buffer.length) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    let n: number | null;
    this.#gate?.startRead();
    try {
      n = await this.#conn.read(this.#buffer.subarray(this.#end));
    } finally {
      this.#gate?.endRead();
    }
    if (n === null) throw new ProtocolError("Server closed the connection");
    this.receivedAt = performance.now();
    this.#end += n;
  }
}

/** The prebuilt bytes of every write a run makes. */
interface Script {
  /** `PARAMS 1 R` and the first `NUMBER`. */
  readonly start: Uint8Array;
  /** Per decision but `Correct`: its `REPORT` and the next `NUMBER`. */
  readonly next: Readonly<Record<Decision, Uint8Array>>;
  /** `REPORT Correct`, `PARAMS 0 -1`, then a new game's `PARAMS` and `NUMBER`. */
  readonly again: Uint8Array;
  /** `depth` `NUMBER`s. */
  readonly batch: Uint8Array;
  /** `PARAMS 1 R` and `depth` `NUMBER`s. */
  readonly startBatch: Uint8Array;
}

function script(range: number, depth: number): Script {
  const params = `PARAMS 1 ${range}\n`;
  const numbers = "NUMBER\n".repeat(depth);
  const next = Object.fromEntries(
    DECISIONS.map((decision) => [decision, encoder.encode(`REPORT ${decision}\nNUMBER\n`)]),
  ) as Record<Decision, Uint8Array>;
  return {
    start: encoder.encode(`${params}NUMBER\n`),
    next,
    again: encoder.encode(`REPORT Correct\nPARAMS 0 -1\n${params}NUMBER\n`),
    batch: encoder.encode(numbers),
    startBatch: encoder.encode(params + numbers),
  };
}

/** Waits for one reply and checks it is a number in 1..range. */
async function reply(reader: ReplyReader, range: number): Promise<number> {
  let value = reader.number(range);
  while (value === undefined) {
    await reader.fill();
    value = reader.number(range);
  }
  return value;
}

function expectNothingMore(reader: ReplyReader): void {
  if (reader.buffered > 0) throw new ProtocolError("Server sent more replies than asked for");
}

async function playGames(
  conn: Deno.Conn,
  run: Run,
  slot: SlotStats,
  range: number,
  bytes: Script,
): Promise<void> {
  const reader = new ReplyReader(conn, run.gate);
  const gate = run.gate;
  let secret = randomIn(range);
  let previous: bigint | undefined;
  let guesses = 0;
  let write = bytes.start;
  for (;;) {
    await writeAll(conn, write);
    const sentAt = performance.now();
    slot.waitingSince = sentAt;
    const guess = await reply(reader, range);
    if (run.stopped) return;
    run.record(slot, sentAt, reader.receivedAt);
    slot.waitingSince = undefined;
    expectNothingMore(reader);
    const verdict = judge(secret, guess, previous);
    previous = verdict.distance;
    guesses++;
    if (verdict.decision === "Correct") {
      run.games++;
      secret = randomIn(range);
      previous = undefined;
      guesses = 0;
      write = bytes.again;
    } else if (guesses >= range) {
      throw new ProtocolError(`Game over 1..${range} not solved in ${range} guesses`);
    } else {
      write = bytes.next[verdict.decision];
    }
    // The same starvation as a server's, on the client side: see gate.ts.
    if (gate !== undefined) await gate.pass();
  }
}

async function pipeline(
  conn: Deno.Conn,
  run: Run,
  slot: SlotStats,
  range: number,
  depth: number,
  bytes: Script,
): Promise<void> {
  const reader = new ReplyReader(conn, run.gate);
  let inGame = range; // Forces a PARAMS first.
  for (;;) {
    const fresh = inGame + depth > range;
    await writeAll(conn, fresh ? bytes.startBatch : bytes.batch);
    const sentAt = performance.now();
    slot.waitingSince = sentAt;
    inGame = fresh ? depth : inGame + depth;
    // Replies that came in one read share a latency: record them together.
    let arrived = 0;
    for (let i = 0; i < depth; i++) {
      while (reader.number(range) === undefined) {
        if (arrived > 0) run.record(slot, sentAt, reader.receivedAt, arrived);
        arrived = 0;
        await reader.fill();
        if (run.stopped) return;
      }
      arrived++;
    }
    run.record(slot, sentAt, reader.receivedAt, arrived);
    slot.waitingSince = undefined;
    expectNothingMore(reader);
    if (run.gate !== undefined) await run.gate.pass();
  }
}

async function idle(
  conn: Deno.Conn,
  run: Run,
  slot: SlotStats,
  range: number,
  bytes: Script,
): Promise<void> {
  const reader = new ReplyReader(conn, run.gate);
  await writeAll(conn, bytes.start);
  const sentAt = performance.now();
  slot.waitingSince = sentAt;
  await reply(reader, range);
  if (run.stopped) return;
  run.record(slot, sentAt, reader.receivedAt);
  slot.waitingSince = undefined;
  await reader.fill();
  if (run.stopped) return;
  throw new ProtocolError("Server sent bytes on an idle connection");
}

async function slot(
  run: Run,
  stats: SlotStats,
  hostname: string,
  port: number,
  range: number,
  mode: LoadMode,
  bytes: Script,
): Promise<void> {
  while (!run.stopped) {
    let conn: Deno.TcpConn | undefined;
    try {
      const connecting = Deno.connect({ hostname, port });
      conn = await Promise.race([connecting, run.stopping.then(() => undefined)]);
      if (conn === undefined) {
        // Stopped while connecting: settle the attempt (quick on loopback), close what it gives.
        await connecting.then(closeQuietly, () => {});
        return;
      }
    } catch (error) {
      run.fail(error);
      await run.pause(RETRY_PAUSE);
      continue;
    }
    run.add(conn);
    try {
      // Like the client: each write is a whole request, send it at once.
      conn.setNoDelay(true);
      switch (mode.type) {
        case "game":
          await playGames(conn, run, stats, range, bytes);
          break;
        case "pipeline":
          await pipeline(conn, run, stats, range, mode.depth, bytes);
          break;
        case "idle":
          await idle(conn, run, stats, range, bytes);
          break;
        default: {
          const unknown: never = mode;
          throw new RangeError(`Unknown mode ${JSON.stringify(unknown)}`);
        }
      }
    } catch (error) {
      run.fail(error);
    } finally {
      run.remove(conn);
    }
    if (!run.stopped) await run.pause(RETRY_PAUSE);
  }
}

/**
 * Runs a load against a guess server until the duration is over (or the
 * signal aborts), then closes every connection.
 *
 * @param options The server, the load and its duration.
 * @returns What was measured.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Five connections playing for half a second
 * ```ts ignore
 * import { runLoad } from "./loadgen.ts";
 * const result = await runLoad({ port: 4321, connections: 5, duration: 500 });
 * console.log(result.roundTripsPerSecond, result.latency.p99);
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const hostname = options.hostname ?? DEFAULTS.hostname;
  const connections = options.connections ?? DEFAULTS.connections;
  const duration = options.duration ?? DEFAULTS.duration;
  const range = options.range ?? DEFAULTS.range;
  const mode = options.mode ?? { type: "game" };
  const depth = mode.type === "pipeline" ? mode.depth : 1;
  checkInteger("port", options.port, 1, 65_535);
  checkInteger("connections", connections, 1, 1_000_000);
  checkInteger("duration", duration, 1, 86_400_000);
  checkInteger("range", range, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("depth", depth, 1, 65_536);
  if (depth > range) throw new RangeError(`Pipeline depth ${depth} is over the range ${range}`);

  const run = new Run();
  if (options.fairness !== false) run.gate = await Gate.open();
  const bytes = script(range, depth);
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let end = start;
  let cpu = cpuStart;
  const stop = () => {
    if (run.stopped) return;
    end = performance.now();
    cpu = process.cpuUsage(cpuStart);
    run.stop();
  };
  const deadline = setTimeout(stop, duration);
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  const stats = Array.from({ length: connections }, () => new SlotStats());
  let last = { at: start, roundTrips: 0 };
  const ticker = options.onProgress &&
    setInterval(() => {
      const now = performance.now();
      options.onProgress!({
        seconds: (now - start) / 1000,
        roundTrips: run.roundTrips,
        rate: (run.roundTrips - last.roundTrips) / ((now - last.at) / 1000),
        errors: run.errors,
        open: run.open.size,
      });
      last = { at: now, roundTrips: run.roundTrips };
    }, 1000);
  try {
    await Promise.all(
      stats.map((stats) => slot(run, stats, hostname, options.port, range, mode, bytes)),
    );
  } finally {
    stop();
    await run.gate?.close();
    clearTimeout(deadline);
    clearInterval(ticker);
    options.signal?.removeEventListener("abort", stop);
  }
  const seconds = (end - start) / 1000;
  const histogram = run.histogram;
  const ms = (percentile: number) =>
    run.roundTrips === 0 ? 0 : histogram.getValueAtPercentile(percentile) / 1000;
  const result: LoadResult = {
    mode: mode.type,
    depth,
    range,
    target: `${hostname}:${options.port}`,
    connections,
    seconds,
    roundTrips: run.roundTrips,
    roundTripsPerSecond: run.roundTrips / seconds,
    games: run.games,
    gamesPerSecond: run.games / seconds,
    errors: run.errors,
    firstError: run.firstError,
    peakOpen: run.peakOpen,
    opened: run.opened,
    latency: {
      p50: ms(50),
      p90: ms(90),
      p99: ms(99),
      max: run.roundTrips === 0 ? 0 : histogram.maxValue / 1000,
    },
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    fairness: fairnessOf(stats, end),
  };
  histogram.destroy();
  return result;
}

function fairnessOf(slots: readonly SlotStats[], end: number): Fairness {
  const trips = slots.map((slot) => slot.roundTrips).toSorted((a, b) => a - b);
  const at = (p: number) => trips[Math.floor((trips.length - 1) * p)];
  const sum = trips.reduce((a, b) => a + b, 0);
  const squares = trips.reduce((a, b) => a + b * b, 0);
  const longest = (slot: SlotStats) =>
    Math.max(slot.longestWait, slot.waitingSince === undefined ? 0 : end - slot.waitingSince);
  return {
    min: at(0),
    p10: at(0.1),
    median: at(0.5),
    max: at(1),
    jain: squares === 0 ? 0 : sum * sum / (trips.length * squares),
    waitedOver1s: slots.filter((slot) => longest(slot) > 1_000).length,
    neverAnswered: trips.filter((n) => n === 0).length,
  };
}

/**
 * Formats a result for people.
 *
 * @param result What a run measured.
 * @returns Several lines, without a trailing newline.
 *
 * @example
 * ```ts ignore
 * import { formatResult, runLoad } from "./loadgen.ts";
 * console.log(formatResult(await runLoad({ port: 4321, duration: 1_000 })));
 * ```
 */
export function formatResult(result: LoadResult): string {
  const what = result.mode === "pipeline"
    ? `pipeline of ${result.depth}`
    : result.mode === "game"
    ? "games"
    : "idle after one exchange";
  const { p50, p90, p99, max } = result.latency;
  const f = result.fairness;
  const lines = [
    `${result.target}: ${result.connections} connections, ${what}, range 1..${result.range}, ${
      result.seconds.toFixed(1)
    } s`,
    `Round trips  ${count(result.roundTrips)} (${count(result.roundTripsPerSecond)}/s)`,
    `Games        ${count(result.games)} (${count(result.gamesPerSecond)}/s)`,
    `Latency ms   p50 ${millis(p50)}  p90 ${millis(p90)}  p99 ${millis(p99)}  max ${millis(max)}`,
    `Errors       ${count(result.errors)}${
      result.firstError === undefined ? "" : ` (first: ${result.firstError})`
    }`,
    `Connections  ${count(result.peakOpen)} open at most, ${count(result.opened)} opened`,
    `Fairness     round trips per connection min ${count(f.min)}  p10 ${count(f.p10)}  median ${
      count(f.median)
    }  max ${count(f.max)}  Jain ${f.jain.toFixed(3)}; waited > 1 s ${
      count(f.waitedOver1s)
    }, never answered ${count(f.neverAnswered)}`,
    `CPU          ${result.cpuSeconds.toFixed(1)} s (${
      Math.round(100 * result.cpuSeconds / result.seconds)
    }% of one core)`,
  ];
  return lines.join("\n");
}

/**
 * Formats a progress snapshot as one short line, for a terminal.
 *
 * @param progress The snapshot.
 * @returns The line, without a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "./loadgen.ts";
 * const line = progressLine({ seconds: 1, roundTrips: 5, rate: 5, errors: 0, open: 1 });
 * assert.ok(line.startsWith("1.0 s"));
 * ```
 */
export function progressLine(progress: LoadProgress): string {
  return `${progress.seconds.toFixed(1)} s  ${count(progress.rate)} rt/s  ${
    count(progress.roundTrips)
  } round trips  ${count(progress.errors)} errors  ${count(progress.open)} open`;
}

function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function millis(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function randomIn(range: number): number {
  return 1 + Math.floor(Math.random() * range);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`Option ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
