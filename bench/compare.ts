/**
 * Compares our server with the floor (`bench/floor.ts`), the Python seed
 * (`interop/seed.py server PORT`), our server with the fairness gate off and
 * with two workers, under the same loads, variants interleaved in one run,
 * and prints markdown tables: a summary with ratios, then every run.
 *
 *     deno run -A bench/compare.ts [options]
 *
 * (`-A`: it reads /proc/PID/stat and /proc/PID/status of the servers, which
 * Deno only allows with all permissions, and it runs subprocesses anyway.)
 *
 * Each server runs alone, pinned to CPU 0 with `taskset` where it exists; the
 * load generator is pinned to CPU 1: `main.ts bench --connect … --json`
 * (loadgen.ts), or `bench/epoll_client.c`, compiled with `cc -O2`, for the
 * scenarios named `c…` (a Deno client uses a whole core at 50 connections
 * and measures itself). A fresh server is started for every measurement and
 * gets 1 s of the same load first (not for the idle scenario, which measures
 * memory from the start). Every load is bounded by its duration; everything
 * is on 127.0.0.1. Every run reports the server's and the client's CPU
 * share, so a client near 100% of its core shows itself.
 *
 * Options:
 *   --duration S    Seconds per measured load (default 5)
 *   --rounds K      Measure each server K times, interleaved (default 1). The summary
 *                   shows the median run of those where other processes took under
 *                   10% of either core (else the least disturbed one, marked). A median run
 *                   whose load generator used over 90% of its core is marked "client at N%"
 *                   and left out of the ratios: it measured the load generator. With two
 *                   rounds or more a second table pairs the ratios by round (each round's
 *                   two runs), where the VM's drift between rounds cancels
 *   --only LIST     Scenarios, comma-separated (default all): game, pipeline (loadgen.ts,
 *                   50 connections), c-game, c-pipeline (C client, 50 connections),
 *                   c200, c1000, c5000 (C client, games), g1000 (loadgen.ts, 1000
 *                   connections), idle (10,000 idle connections, memory)
 *   --servers LIST  Servers, comma-separated: ours, ours-ungated (--fairness off),
 *                   ours-w2 (--workers 2; needs --pin off), floor, seed
 *                   (default all but ours-w2)
 *   --pin on|off    Pin servers to CPU 0 and clients to CPU 1 (default on, where taskset
 *                   exists); off for workers, which need both cores
 *   --json FILE     Also write every measurement to FILE
 *   --ours-flag F   An extra `deno run` flag for our server, repeatable, e.g.
 *                   --ours-flag=--v8-flags=--max-semi-space-size=4
 *   --from FILE     Measure nothing: print the tables of a --json FILE of an earlier run
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LoadResult } from "../cli/loadgen.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const SERVERS = ["ours", "ours-ungated", "ours-w2", "floor", "seed"] as const;
type ServerName = typeof SERVERS[number];

/** Which load generator a scenario uses. */
type Client = "loadgen" | "c";

/** A load to put on each server, and what to read off the result. */
interface Scenario {
  readonly name: string;
  readonly title: string;
  /** `loadgen`: `main.ts bench`; `c`: `bench/epoll_client.c`. */
  readonly client: Client;
  readonly connections: number;
  /** NUMBERs in flight per connection; 1 plays games. */
  readonly depth: number;
  /** One exchange per connection, then idle (loadgen only). */
  readonly idle?: boolean;
  /** Seconds of load; `undefined` means the --duration option. */
  readonly seconds?: number;
  /** Measure memory (RSS over start) instead of warming up first. */
  readonly memory: boolean;
  /** What the issues ask of our server here. */
  readonly target: string;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "game",
    title: "Games over 1..100, 50 connections, loadgen.ts",
    client: "loadgen",
    connections: 50,
    depth: 1,
    memory: false,
    target: "(loadgen.ts caps itself here: see c-game)",
  },
  {
    name: "pipeline",
    title: "Pipelined, 50 connections x 16 NUMBERs, loadgen.ts",
    client: "loadgen",
    connections: 50,
    depth: 16,
    memory: false,
    target: "(see c-pipeline)",
  },
  {
    name: "c-game",
    title: "Games over 1..100, 50 connections, C client",
    client: "c",
    connections: 50,
    depth: 1,
    memory: false,
    target: ">= 0.95x floor, >= 0.95x ours-ungated",
  },
  {
    name: "c-pipeline",
    title: "Pipelined, 50 connections x 16 NUMBERs, C client",
    client: "c",
    connections: 50,
    depth: 16,
    memory: false,
    target: ">= 0.8x floor",
  },
  {
    name: "c200",
    title: "Games over 1..100, 200 connections, C client",
    client: "c",
    connections: 200,
    depth: 1,
    memory: false,
    target: "(reported)",
  },
  {
    name: "c1000",
    title: "Games over 1..100, 1000 connections, C client",
    client: "c",
    connections: 1000,
    depth: 1,
    memory: false,
    target: "0 never answered, max < 500 ms, p99 < 100 ms, Jain >= 0.95",
  },
  {
    name: "g1000",
    title: "Games over 1..100, 1000 connections, loadgen.ts",
    client: "loadgen",
    connections: 1000,
    depth: 1,
    memory: false,
    target: "as c1000 (the load generator is fair too)",
  },
  {
    name: "c5000",
    title: "Games over 1..100, 5000 connections, C client",
    client: "c",
    connections: 5000,
    depth: 1,
    memory: false,
    target: "(reported)",
  },
  {
    name: "idle",
    title: "10,000 idle connections after one exchange each",
    client: "loadgen",
    connections: 10_000,
    depth: 1,
    idle: true,
    seconds: 20,
    memory: true,
    target: "< 100 MiB",
  },
];

/** One measurement of one server. */
interface Measurement {
  readonly scenario: string;
  readonly server: ServerName;
  /** What `main.ts bench --json` printed (loadgen scenarios). */
  readonly result?: LoadResult;
  /** What `bench/epoll_client.c` printed (C scenarios). */
  readonly epoll?: EpollResult;
  /** The server's CPU time during the load over the load's duration (1 = one core). */
  readonly serverCpu: number;
  /** The load generator's CPU time over the load's duration. */
  readonly loadCpu: number;
  /** The server's RSS when it started listening, in KiB. */
  readonly startRss: number;
  /** The server's highest RSS seen during the load, in KiB. */
  readonly peakRss: number;
  /**
   * How busy CPU 0 and CPU 1 were during the load, all processes counted
   * (1 = fully). Busy minus our process's share is other people's work: noise.
   */
  readonly coreBusy: readonly number[];
  /** With workers: connections each one accepted during the load (worker 1 first). */
  readonly perWorker?: readonly number[];
}

/** What `bench/epoll_client.c` prints. */
interface EpollResult {
  readonly seconds: number;
  readonly roundTrips: number;
  readonly roundTripsPerSecond: number;
  readonly errors: number;
  readonly latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Connections whose first reply came more than 1 s after the start. */
  readonly firstReplyAfter1s: number;
  /** Connections that never got a reply. */
  readonly neverAnswered: number;
  /** Per-connection round trips and waits (absent in runs before the fairness columns). */
  readonly fairness?: {
    min: number;
    p10: number;
    median: number;
    max?: number;
    jain: number;
    waitedOver1s: number;
    timeouts: number;
  };
}

/** What both load generators report, as the tables use it. */
interface Load {
  readonly seconds: number;
  readonly roundTrips: number;
  readonly roundTripsPerSecond: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly fairness?: {
    min: number;
    p10: number;
    median: number;
    jain: number;
    waitedOver1s: number;
    neverAnswered: number;
  };
}

/** The measured load of a measurement: the C client's where there is one. */
function loadOf(m: Measurement): Load {
  if (m.epoll !== undefined) {
    const e = m.epoll;
    return {
      seconds: e.seconds,
      roundTrips: e.roundTrips,
      roundTripsPerSecond: e.roundTripsPerSecond,
      errors: e.errors,
      p50: e.latency.p50,
      p99: e.latency.p99,
      max: e.latency.max,
      fairness: e.fairness && { ...e.fairness, neverAnswered: e.neverAnswered },
    };
  }
  const r = m.result!;
  return {
    seconds: r.seconds,
    roundTrips: r.roundTrips,
    roundTripsPerSecond: r.roundTripsPerSecond,
    errors: r.errors,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    fairness: r.fairness,
  };
}

/** Whether servers go to CPU 0 and load generators to CPU 1 (`--pin`, `taskset`). */
let pinned = false;
let epollClient: string | undefined;

function pin(cpu: number, command: string[]): string[] {
  return pinned ? ["taskset", "-c", String(cpu), ...command] : command;
}

async function hasTaskset(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", { args: ["-V"], stdout: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/** Extra `deno run` flags for our server (--ours-flag). */
let oursFlags: string[] = [];

function serverCommand(server: ServerName, port: number): string[] {
  switch (server) {
    case "ours":
    case "ours-ungated":
    case "ours-w2":
      return [
        DENO,
        "run",
        "--allow-net",
        // Workers load their module as a file; their /metrics tell the spread.
        ...(server === "ours-w2" ? ["--allow-read"] : []),
        ...oursFlags,
        `${ROOT}main.ts`,
        "serve",
        "--port",
        String(port),
        "--max-connections",
        "20000",
        ...(server === "ours-ungated" ? ["--fairness", "off"] : []),
        ...(server === "ours-w2" ? ["--workers", "2", "--http", "127.0.0.1:0"] : []),
      ];
    case "floor":
      return [DENO, "run", "--allow-net", `${ROOT}bench/floor.ts`, String(port)];
    case "seed":
      return ["python3", `${ROOT}interop/seed.py`, "server", String(port)];
    default: {
      const unknown: never = server;
      throw new RangeError(`Unknown server ${unknown}`);
    }
  }
}

/**
 * Starts a server with the highest open-file limit allowed, waits until it
 * says `Listening on`, and drains its stderr from then on.
 */
async function startServer(server: ServerName, port: number) {
  const command = pin(0, serverCommand(server, port));
  // `exec` all the way, so the child's pid is the server's.
  const script = `ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  const child = new Deno.Command("sh", {
    args: ["-c", script, "sh", ...command],
    stdin: "null",
    stdout: "null", // The seed prints a line per REPORT.
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = setTimeout(() => lines.cancel(), 10_000);
  const ready = server === "ours-w2" ? /HTTP on \S+:(\d+)/ : /Listening on/;
  try {
    while (!ready.test(seen)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`${server} did not start: ${seen.trim()}`);
      seen += value;
    }
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  const draining = (async () => {
    try {
      while (!(await lines.read()).done);
    } catch {
      // Cancelled at the end.
    }
  })();
  const http = /HTTP on \S+:(\d+)/.exec(seen);
  return {
    pid: child.pid,
    /** The HTTP port, for a server started with --http. */
    httpPort: http ? Number(http[1]) : undefined,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
      await lines.cancel().catch(() => {});
      await draining;
    },
  };
}

/** User + system CPU seconds of a process, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy and total jiffies of each CPU, from /proc/stat. */
function cpuTimes(): { busy: number; total: number }[] {
  const lines = Deno.readTextFileSync("/proc/stat").split("\n");
  return lines.filter((line) => /^cpu\d+ /.test(line)).map((line) => {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1)
      .map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  });
}

/** Resident set size of a process in KiB, from /proc/PID/status. */
function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`No VmRSS for ${pid}`);
  return Number(match[1]);
}

/** Connections each worker accepted so far, from `/metrics` (worker 1 first). */
async function acceptedByWorker(httpPort: number): Promise<number[]> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await response.text();
  const counts: number[] = [];
  for (
    const match of text.matchAll(
      /^guess_worker_connections_accepted_total\{worker="(\d+)"\} (\d+)$/gm,
    )
  ) {
    counts[Number(match[1]) - 1] = Number(match[2]);
  }
  return counts;
}

/** The `main.ts bench` arguments of a scenario. */
function loadgenArgs(scenario: Scenario): string[] {
  return [
    "--connections",
    String(scenario.connections),
    ...(scenario.depth > 1 ? ["--pipeline", String(scenario.depth)] : []),
    ...(scenario.idle ? ["--idle"] : []),
  ];
}

/** Runs `main.ts bench --json` on CPU 1; returns its result and its own CPU share. */
async function loadgen(
  port: number,
  scenario: Scenario,
  seconds: number,
): Promise<{ result: LoadResult; cpu: number }> {
  const command = pin(1, [
    DENO,
    "run",
    "--allow-net",
    `${ROOT}main.ts`,
    "bench",
    "--connect",
    `127.0.0.1:${port}`,
    "--duration",
    String(seconds),
    "--json",
    ...loadgenArgs(scenario),
  ]);
  const output = await withFdLimitRaised(command).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!text.startsWith("{")) {
    throw new Error(`Load generator failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  const result = JSON.parse(text) as LoadResult;
  return { result, cpu: result.cpuSeconds / result.seconds };
}

/** `command` with its open-file limit raised to the hard limit, for 10,000 sockets. */
function withFdLimitRaised(command: string[]): Deno.Command {
  return new Deno.Command("sh", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec "$@"`, "sh", ...command],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Compiles bench/epoll_client.c into a temporary directory, if a C compiler exists. */
async function buildEpollClient(): Promise<string | undefined> {
  const binary = `${Deno.makeTempDirSync({ prefix: "guess-bench-" })}/epoll_client`;
  try {
    const { success } = await new Deno.Command("cc", {
      args: ["-O2", "-o", binary, `${ROOT}bench/epoll_client.c`],
      stdout: "null",
      stderr: "inherit",
    }).output();
    return success ? binary : undefined;
  } catch {
    return undefined; // No cc.
  }
}

/**
 * Runs the C client on CPU 1; returns its result and its own CPU share, from
 * its /proc/PID/stat sampled every 100 ms (the last sample, over the time
 * until it was taken: the process is gone when its output is read).
 */
async function epollLoad(
  binary: string,
  port: number,
  scenario: Scenario,
  seconds: number,
): Promise<{ result: EpollResult; cpu: number }> {
  const args = [String(port), String(scenario.connections), String(seconds), "100"];
  if (scenario.depth > 1) args.push(String(scenario.depth));
  const child = withFdLimitRaised(pin(1, [binary, ...args])).spawn();
  const started = performance.now();
  let cpu = 0;
  const sampler = setInterval(() => {
    try {
      cpu = cpuSeconds(child.pid) / ((performance.now() - started) / 1000);
    } catch {
      // Exited between two samples.
    }
  }, 100);
  try {
    const output = await child.output();
    const text = new TextDecoder().decode(output.stdout).trim();
    if (!text.startsWith("{")) {
      throw new Error(`C client failed: ${new TextDecoder().decode(output.stderr).trim()}`);
    }
    return { result: JSON.parse(text) as EpollResult, cpu };
  } finally {
    clearInterval(sampler);
  }
}

/** One load of `scenario` on the server at `port`, by the scenario's client. */
async function runLoad(
  port: number,
  scenario: Scenario,
  seconds: number,
): Promise<{ result?: LoadResult; epoll?: EpollResult; cpu: number }> {
  if (scenario.client === "loadgen") return await loadgen(port, scenario, seconds);
  const { result, cpu } = await epollLoad(epollClient!, port, scenario, seconds);
  return { epoll: result, cpu };
}

async function measure(
  scenario: Scenario,
  server: ServerName,
  seconds: number,
): Promise<Measurement> {
  const port = freePort();
  await using running = await startServer(server, port);
  const startRss = rssKiB(running.pid);
  if (!scenario.memory) await runLoad(port, scenario, 1); // Warm-up, not measured.
  let peakRss = rssKiB(running.pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssKiB(running.pid));
  }, 100);
  const acceptedBefore = running.httpPort === undefined
    ? undefined
    : await acceptedByWorker(running.httpPort);
  const cpuBefore = cpuSeconds(running.pid);
  const coresBefore = cpuTimes();
  const started = performance.now();
  let measured: Awaited<ReturnType<typeof runLoad>>;
  try {
    measured = await runLoad(port, scenario, scenario.seconds ?? seconds);
  } finally {
    clearInterval(sampler);
  }
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = (cpuSeconds(running.pid) - cpuBefore) / elapsed;
  const acceptedAfter = running.httpPort === undefined
    ? undefined
    : await acceptedByWorker(running.httpPort);
  peakRss = Math.max(peakRss, rssKiB(running.pid));
  const coreBusy = cpuTimes().map((after, i) =>
    (after.busy - coresBefore[i].busy) / (after.total - coresBefore[i].total)
  );
  return {
    scenario: scenario.name,
    server,
    result: measured.result,
    epoll: measured.epoll,
    serverCpu,
    loadCpu: measured.cpu,
    perWorker: acceptedAfter?.map((after, i) => after - (acceptedBefore?.[i] ?? 0)),
    startRss,
    peakRss,
    coreBusy,
  };
}

function say(stream: typeof Deno.stdout, text: string): void {
  const bytes = new TextEncoder().encode(text + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/** Runs where other processes took more than this share of either core are disturbed. */
const DISTURBED = 0.1;

/**
 * A load generator whose own core was busier than this measured itself, not
 * the server: such a run's number is marked and left out of every ratio.
 */
const CLIENT_BOUND = 0.9;

/** How much of the busier of the two cores other processes took during the load. */
function disturbance(m: Measurement): number {
  if (!pinned) return 0;
  const shares = [m.serverCpu, m.loadCpu];
  return Math.max(...shares.map((share, i) => Math.max(0, (m.coreBusy[i] ?? 0) - share)));
}

/** The number a scenario is judged by, and whether lower is better. */
function headline(scenario: Scenario, m: Measurement): { value: number; lower: boolean } {
  return scenario.memory
    ? { value: (m.peakRss - m.startRss) / 1024, lower: true }
    : { value: loadOf(m).roundTripsPerSecond, lower: false };
}

/**
 * The measurement a summary cell shows of several: the median of the
 * undisturbed runs by the scenario's headline (all runs for memory, which
 * does not depend on the CPU; the least disturbed one when none is clean).
 */
function median(scenario: Scenario, items: Measurement[]): Measurement {
  const clean = scenario.memory ? items : items.filter((m) => disturbance(m) <= DISTURBED);
  if (clean.length === 0) return items.reduce((a, b) => disturbance(b) < disturbance(a) ? b : a);
  const sorted = clean.toSorted((a, b) =>
    headline(scenario, a).value - headline(scenario, b).value
  );
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function format(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString("en-US");
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;
}

/** "66% (+8%)": a process's share of its core, and what others took from that core. */
function core(share: number, busy: number | undefined): string {
  const others = busy === undefined || !pinned ? undefined : Math.max(0, busy - share);
  return `${Math.round(share * 100)}%${
    others === undefined ? "" : ` (+${Math.round(others * 100)}%)`
  }`;
}

/** Which ratios the summary shows: ours (or ours-w2) over another server. */
const RATIOS: readonly (readonly [ServerName, ServerName])[] = [
  ["ours", "floor"],
  ["ours", "ours-ungated"],
  ["ours", "seed"],
  ["ours-w2", "ours"],
];

/**
 * Per round, `a`'s headline over `b`'s in the same round, for the rounds
 * where both runs are undisturbed and neither load generator bound: the
 * two were measured minutes apart at most, so the VM's drift between
 * rounds cancels (the summary's ratio of medians takes each median from
 * its own round).
 */
function pairedRatios(a: Measurement[], b: Measurement[], scenario: Scenario): number[] {
  const ratios: number[] = [];
  for (let round = 0; round < Math.min(a.length, b.length); round++) {
    const pair = [a[round], b[round]];
    if (pair.some((m) => disturbance(m) > DISTURBED || m.loadCpu > CLIENT_BOUND)) continue;
    ratios.push(headline(scenario, pair[0]).value / headline(scenario, pair[1]).value);
  }
  return ratios;
}

/** The paired ratios of every scenario with two rounds or more: median (lowest to highest, rounds). */
function pairedTable(
  scenarios: readonly Scenario[],
  ratios: readonly (readonly [ServerName, ServerName])[],
  runs: (scenario: Scenario, server: ServerName) => Measurement[],
): string[] {
  const rows: string[] = [];
  for (const scenario of scenarios) {
    if (scenario.memory) continue;
    const cells = ratios.map(([a, b]) => {
      const paired = pairedRatios(runs(scenario, a), runs(scenario, b), scenario).toSorted((x, y) =>
        x - y
      );
      if (paired.length < 2) return "-";
      const middle = paired.length % 2 === 1
        ? paired[(paired.length - 1) / 2]
        : (paired[paired.length / 2 - 1] + paired[paired.length / 2]) / 2;
      return `${middle.toFixed(2)}x (${paired[0].toFixed(2)} to ${
        paired[paired.length - 1].toFixed(2)
      }, ${paired.length})`;
    });
    if (cells.every((cell) => cell === "-")) continue;
    rows.push(`| ${scenario.title} | ${cells.join(" | ")} |`);
  }
  if (rows.length === 0) return [];
  return [
    "The same ratios paired by round (each round's two runs, undisturbed and not client-bound): median (lowest to highest, rounds):",
    "",
    `| scenario | ${ratios.map(([a, b]) => `${a}/${b}`).join(" | ")} |`,
    `|---|${ratios.map(() => "---:").join("|")}|`,
    ...rows,
  ];
}

function table(
  scenarios: readonly Scenario[],
  servers: readonly ServerName[],
  all: readonly Measurement[],
): string {
  const runs = (scenario: Scenario, server: ServerName) =>
    all.filter((m) => m.scenario === scenario.name && m.server === server);
  const ratios = RATIOS.filter(([a, b]) => servers.includes(a) && servers.includes(b));
  const lines = [
    `| scenario | metric | ${servers.join(" | ")} | ${
      ratios.map(([a, b]) => `${a}/${b}`).join(" | ")
    } | target |`,
    `|---|---|${servers.map(() => "---:").join("|")}|${ratios.map(() => "---:").join("|")}|---|`,
  ];
  for (const scenario of scenarios) {
    const values = new Map<ServerName, number>();
    const cells = servers.map((server) => {
      const items = runs(scenario, server);
      if (items.length === 0) return "-";
      const m = median(scenario, items);
      const value = headline(scenario, m).value;
      if (!scenario.memory && m.loadCpu > CLIENT_BOUND) {
        // It measured the load generator: shown, but in no ratio.
        return `${format(value)} (client at ${Math.round(m.loadCpu * 100)}%)`;
      }
      values.set(server, value);
      const marked = !scenario.memory && disturbance(m) > DISTURBED;
      return marked
        ? `${format(value)} (disturbed +${Math.round(disturbance(m) * 100)}%)`
        : format(value);
    });
    if (values.size === 0) continue;
    const unit = scenario.memory ? "MiB RSS over start" : "round trips/s, median run";
    lines.push(
      `| ${scenario.title} | ${unit} | ${cells.join(" | ")} | ${
        ratios.map(([a, b]) => ratio(values.get(a), values.get(b))).join(" | ")
      } | ${scenario.target} |`,
    );
  }
  const paired = pairedTable(scenarios, ratios, runs);
  if (paired.length > 0) lines.push("", ...paired);
  lines.push(
    "",
    "Every run, in the order measured:",
    "",
    "| scenario | server | round trips/s | p50 ms | p99 ms | max ms | errors | rt/conn min / p10 / median | Jain | waited > 1 s | never answered | server core | client core | server CPU µs/rt | RSS start / peak MiB | accepted per worker |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  );
  for (const m of all) {
    const scenario = scenarios.find((s) => s.name === m.scenario);
    if (scenario === undefined || !servers.includes(m.server)) continue;
    const l = loadOf(m);
    const f = l.fairness;
    lines.push(
      `| ${m.scenario} | ${m.server} | ${format(l.roundTripsPerSecond)} | ${format(l.p50)} | ${
        format(l.p99)
      } | ${format(l.max)} | ${l.errors} | ${f ? `${f.min} / ${f.p10} / ${f.median}` : "-"} | ${
        f ? f.jain.toFixed(3) : "-"
      } | ${f?.waitedOver1s ?? "-"} | ${f?.neverAnswered ?? "-"} | ${
        core(m.serverCpu, m.coreBusy[0])
      } | ${core(m.loadCpu, m.coreBusy[1])} | ${
        l.roundTrips === 0 ? "-" : format(m.serverCpu * l.seconds * 1e6 / l.roundTrips)
      } | ${format(m.startRss / 1024)} / ${format(m.peakRss / 1024)} | ${
        m.perWorker?.join(" / ") ?? "-"
      } |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "5" },
      rounds: { type: "string", default: "1" },
      only: { type: "string" },
      servers: { type: "string" },
      pin: { type: "string", default: "on" },
      json: { type: "string" },
      "ours-flag": { type: "string", multiple: true },
      from: { type: "string" },
    },
    strict: true,
  });
  oursFlags = values["ours-flag"] ?? [];
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError("--duration and --rounds need positive integers");
  }
  if (values.pin !== "on" && values.pin !== "off") throw new RangeError("--pin needs on or off");
  const only = values.only?.split(",");
  const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0) throw new RangeError(`Unknown scenario ${unknown.join(", ")}`);
  const scenarios = SCENARIOS.filter((s) => only === undefined || only.includes(s.name));
  const named = values.servers?.split(",") ?? SERVERS.filter((s) => s !== "ours-w2");
  const strangers = named.filter((s) => !(SERVERS as readonly string[]).includes(s));
  if (strangers.length > 0) throw new RangeError(`Unknown server ${strangers.join(", ")}`);
  const servers = named as ServerName[];
  pinned = values.pin === "on" && await hasTaskset() && navigator.hardwareConcurrency >= 2;
  if (values.from === undefined && pinned && servers.includes("ours-w2")) {
    throw new RangeError("ours-w2 runs two threads: measure it with --pin off");
  }
  const all = values.from === undefined
    ? await measureAll(scenarios, servers, seconds, rounds)
    : JSON.parse(await Deno.readTextFile(values.from)) as Measurement[];
  say(Deno.stdout, table(scenarios, servers, all));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(all, null, 2));
}

/** Runs every scenario against every server, `rounds` times, interleaved. */
async function measureAll(
  scenarios: readonly Scenario[],
  servers: readonly ServerName[],
  seconds: number,
  rounds: number,
): Promise<Measurement[]> {
  say(
    Deno.stderr,
    pinned ? "Servers on CPU 0, load generators on CPU 1" : "Processes not pinned",
  );
  if (oursFlags.length > 0) say(Deno.stderr, `Our server runs with ${oursFlags.join(" ")}`);
  let measured = scenarios;
  if (scenarios.some((s) => s.client === "c")) {
    epollClient = await buildEpollClient();
    if (!epollClient) {
      say(Deno.stderr, "No C compiler: the C client's scenarios are left out");
      measured = scenarios.filter((s) => s.client !== "c");
    }
  }
  const all: Measurement[] = [];
  try {
    for (const scenario of measured) {
      // Memory hardly depends on the other processes: two rounds are enough.
      for (let round = 0; round < (scenario.memory ? Math.min(rounds, 2) : rounds); round++) {
        for (const server of servers) {
          const m = await measure(scenario, server, seconds);
          const l = loadOf(m);
          say(
            Deno.stderr,
            `${scenario.name} ${server}: ${format(l.roundTripsPerSecond)} rt/s, p99 ${
              format(l.p99)
            } ms, max ${format(l.max)} ms, Jain ${l.fairness?.jain.toFixed(3) ?? "-"}, never ${
              l.fairness?.neverAnswered ?? "-"
            } (server core ${core(m.serverCpu, m.coreBusy[0])}, client core ${
              core(m.loadCpu, m.coreBusy[1])
            }, errors ${l.errors})`,
          );
          all.push(m);
        }
      }
    }
  } finally {
    if (epollClient) {
      Deno.removeSync(epollClient.slice(0, epollClient.lastIndexOf("/")), { recursive: true });
    }
  }
  return all;
}
