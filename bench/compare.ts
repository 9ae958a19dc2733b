/**
 * Compares our server with the floor (`bench/floor.ts`) and the Python seed
 * (`interop/seed.py server PORT`) under the same loads, in one run, and prints
 * a markdown table of absolute numbers and ratios.
 *
 *     deno run -A bench/compare.ts [options]
 *
 * (`-A`: it reads /proc/PID/stat and /proc/PID/status of the servers, which
 * Deno only allows with all permissions, and it runs subprocesses anyway.)
 *
 * Each server runs alone, pinned to CPU 0 with `taskset` where it exists; the
 * load generator (`main.ts bench --connect … --json`) is pinned to CPU 1. A
 * fresh server is started for every measurement and gets a short warm-up load
 * first (not for the idle scenario, which measures memory from the start).
 * Every load is bounded by its duration; everything is on 127.0.0.1.
 *
 * Options:
 *   --duration S    Seconds per measured load (default 5)
 *   --rounds K      Measure each server K times, interleaved (default 1). Only runs
 *                   where other processes took under 10% of either core count (else the
 *                   least disturbed one, marked in the table). Of those, throughput keeps
 *                   the best run (other work only ever slows a run down), latency and
 *                   memory the median run (their spread is the server's own)
 *   --only LIST     Scenarios, comma-separated: game,pipeline,c1000,idle (default all)
 *   --servers LIST  Servers, comma-separated: ours,ours-ungated,floor,seed (default all;
 *                   ours-ungated is ours with --fairness off)
 *   --json FILE     Also write every measurement to FILE
 *   --ours-flag F   An extra `deno run` flag for our server, repeatable, e.g.
 *                   --ours-flag=--v8-flags=--max-semi-space-size=4
 *   --from FILE     Measure nothing: print the table of a --json FILE of an earlier run
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LoadResult } from "../cli/loadgen.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const SERVERS = ["ours", "ours-ungated", "floor", "seed"] as const;
type ServerName = typeof SERVERS[number];

/** A load to put on each server, and what to read off the result. */
interface Scenario {
  readonly name: string;
  readonly title: string;
  readonly args: readonly string[];
  /** Seconds of load; `undefined` means the --duration option. */
  readonly seconds?: number;
  /** Measure memory (RSS over start) instead of warming up first. */
  readonly memory: boolean;
  /** Also run `bench/epoll_client.c` (1000 connections), when a C compiler exists. */
  readonly epoll?: boolean;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "game",
    title: "Games over 1..100, 50 connections",
    args: ["--connections", "50"],
    memory: false,
  },
  {
    name: "pipeline",
    title: "Pipelined, 50 connections x 16 NUMBERs in flight",
    args: ["--connections", "50", "--pipeline", "16"],
    memory: false,
  },
  {
    name: "c1000",
    title: "Games over 1..100, 1000 connections at once",
    args: ["--connections", "1000"],
    memory: false,
    epoll: true,
  },
  {
    name: "idle",
    title: "10,000 idle connections after one exchange each",
    args: ["--connections", "10000", "--idle"],
    seconds: 20,
    memory: true,
  },
];

/** One measurement of one server. */
interface Measurement {
  readonly scenario: string;
  readonly server: ServerName;
  readonly result: LoadResult;
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
  /** The same load from `bench/epoll_client.c`, right after, on the same server. */
  readonly epoll?: EpollResult;
}

/** What `bench/epoll_client.c` prints. */
interface EpollResult {
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
    jain: number;
    waitedOver1s: number;
    timeouts: number;
  };
}

const pinned = await hasTaskset() && navigator.hardwareConcurrency >= 2;
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
      return [
        DENO,
        "run",
        "--allow-net",
        ...oursFlags,
        `${ROOT}main.ts`,
        "serve",
        "--port",
        String(port),
        "--max-connections",
        "20000",
        ...(server === "ours-ungated" ? ["--fairness", "off"] : []),
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
  try {
    while (!seen.includes("Listening on")) {
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
  return {
    pid: child.pid,
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

async function load(port: number, args: readonly string[], seconds: number): Promise<LoadResult> {
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
    ...args,
  ]);
  const output = await withFdLimitRaised(command, "piped");
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!text.startsWith("{")) {
    throw new Error(`Load generator failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(text) as LoadResult;
}

/** Runs `command` with its open-file limit raised to the hard limit, for 10,000 sockets. */
function withFdLimitRaised(
  command: string[],
  stderr: "piped" | "inherit",
): Promise<Deno.CommandOutput> {
  return new Deno.Command("sh", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec "$@"`, "sh", ...command],
    stdin: "null",
    stdout: "piped",
    stderr,
  }).output();
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

async function epollLoad(binary: string, port: number, seconds: number): Promise<EpollResult> {
  const command = pin(1, [binary, String(port), "1000", String(seconds)]);
  const output = await withFdLimitRaised(command, "inherit");
  return JSON.parse(new TextDecoder().decode(output.stdout)) as EpollResult;
}

async function measure(
  scenario: Scenario,
  server: ServerName,
  seconds: number,
): Promise<Measurement> {
  const port = freePort();
  await using running = await startServer(server, port);
  const startRss = rssKiB(running.pid);
  if (!scenario.memory) await load(port, scenario.args, 1); // Warm-up, not measured.
  let peakRss = rssKiB(running.pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssKiB(running.pid));
  }, 100);
  const cpuBefore = cpuSeconds(running.pid);
  const coresBefore = cpuTimes();
  let result: LoadResult;
  try {
    result = await load(port, scenario.args, scenario.seconds ?? seconds);
  } finally {
    clearInterval(sampler);
  }
  peakRss = Math.max(peakRss, rssKiB(running.pid));
  const coreBusy = cpuTimes().map((after, i) =>
    (after.busy - coresBefore[i].busy) / (after.total - coresBefore[i].total)
  );
  const serverCpu = (cpuSeconds(running.pid) - cpuBefore) / result.seconds;
  const epoll = scenario.epoll && epollClient !== undefined
    ? await epollLoad(epollClient, port, scenario.seconds ?? seconds)
    : undefined;
  return {
    scenario: scenario.name,
    server,
    result,
    serverCpu,
    loadCpu: result.cpuSeconds / result.seconds,
    startRss,
    peakRss,
    coreBusy,
    epoll,
  };
}

function say(stream: typeof Deno.stdout, text: string): void {
  const bytes = new TextEncoder().encode(text + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/** Runs where other processes took more than this share of either core are disturbed. */
const DISTURBED = 0.1;

/** How much of the busier of the two cores other processes took during the load. */
function disturbance(m: Measurement): number {
  if (!pinned) return 0;
  const shares = [m.serverCpu, m.loadCpu];
  return Math.max(...shares.map((share, i) => Math.max(0, (m.coreBusy[i] ?? 0) - share)));
}

/**
 * The measurement to keep of several. Only undisturbed runs count (memory does
 * not depend on the CPU: there all do); without any, the least disturbed one.
 * Of those, the highest throughput, or the median latency or memory.
 */
function best(scenario: Scenario, items: Measurement[]): Measurement {
  const clean = scenario.memory ? items : items.filter((m) => disturbance(m) <= DISTURBED);
  if (clean.length === 0) return items.reduce((a, b) => disturbance(b) < disturbance(a) ? b : a);
  const sorted = clean.toSorted((a, b) =>
    headline(scenario, a).value - headline(scenario, b).value
  );
  return headline(scenario, sorted[0]).lower
    ? sorted[Math.floor((sorted.length - 1) / 2)]
    : sorted[sorted.length - 1];
}

/** A value, marked when its run was disturbed by other processes. */
function cell(scenario: Scenario, m: Measurement, value: number): string {
  const marked = !scenario.memory && disturbance(m) > DISTURBED;
  return marked
    ? `${format(value)} (disturbed +${Math.round(disturbance(m) * 100)}%)`
    : format(value);
}

/** "66% (+8%)": our process's share of its core, and what others took from it. */
function core(share: number, busy: number | undefined): string {
  const others = busy === undefined ? undefined : Math.max(0, busy - share);
  return `${Math.round(share * 100)}%${
    others === undefined || !pinned ? "" : ` (+${Math.round(others * 100)}%)`
  }`;
}

/** The number a scenario is judged by, and its unit; higher is better unless `lower`. */
function headline(scenario: Scenario, m: Measurement) {
  return metrics(scenario, m)[0];
}

/** What a measurement is judged by, first the headline; lower is better when `lower`. */
function metrics(scenario: Scenario, m: Measurement) {
  switch (scenario.name) {
    case "c1000": {
      const loadgen = { value: m.result.latency.p99, unit: "p99 ms, loadgen.ts", lower: true };
      return m.epoll === undefined
        ? [loadgen]
        : [{ value: m.epoll.latency.p99, unit: "p99 ms, C epoll client", lower: true }, loadgen];
    }
    case "idle":
      return [{ value: (m.peakRss - m.startRss) / 1024, unit: "MiB RSS over start", lower: true }];
    default:
      return [{ value: m.result.roundTripsPerSecond, unit: "round trips/s", lower: false }];
  }
}

const TARGETS: Record<string, string> = {
  game: ">= 0.9x floor",
  pipeline: ">= 0.8x floor",
  c1000: "p99 < 20 ms",
  idle: "< 100 MiB",
};

function format(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString("en-US");
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;
}

function table(
  scenarios: readonly Scenario[],
  servers: readonly ServerName[],
  results: Map<string, Measurement>,
): string {
  const lines = [
    `| scenario | metric | ${servers.join(" | ")} | ours/floor | ours/seed | target |`,
    `|---|---|${servers.map(() => "---:").join("|")}|---:|---:|---|`,
  ];
  for (const scenario of scenarios) {
    const some = servers.map((s) => results.get(`${scenario.name}/${s}`)).find(Boolean);
    if (!some) continue;
    for (const [row, { unit }] of metrics(scenario, some).entries()) {
      const value = (server: ServerName) => {
        const m = results.get(`${scenario.name}/${server}`);
        return m === undefined ? undefined : metrics(scenario, m)[row]?.value;
      };
      const cells = servers.map((s) => {
        const m = results.get(`${scenario.name}/${s}`);
        const v = value(s);
        return m === undefined || v === undefined ? "-" : cell(scenario, m, v);
      });
      lines.push(
        `| ${row === 0 ? scenario.title : ""} | ${unit} | ${cells.join(" | ")} | ${
          ratio(value("ours"), value("floor"))
        } | ${ratio(value("ours"), value("seed"))} | ${row === 0 ? TARGETS[scenario.name] : ""} |`,
      );
    }
  }
  lines.push(
    "",
    "| scenario | server | round trips/s | games/s | p50 ms | p99 ms | max ms | errors | peak open | server core | load core | server CPU µs/rt | RSS start MiB | RSS peak MiB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const scenario of scenarios) {
    for (const server of servers) {
      const m = results.get(`${scenario.name}/${server}`);
      if (!m) continue;
      const r = m.result;
      lines.push(
        `| ${scenario.name} | ${server} | ${format(r.roundTripsPerSecond)} | ${
          format(r.gamesPerSecond)
        } | ${format(r.latency.p50)} | ${format(r.latency.p99)} | ${format(r.latency.max)} | ${
          r.errors === 0 ? "0" : `${r.errors} (${r.firstError})`
        } | ${r.peakOpen} | ${core(m.serverCpu, m.coreBusy[0])} | ${
          core(m.loadCpu, m.coreBusy[1])
        } | ${r.roundTrips === 0 ? "-" : format(m.serverCpu * r.seconds * 1e6 / r.roundTrips)} | ${
          format(m.startRss / 1024)
        } | ${format(m.peakRss / 1024)} |`,
      );
    }
  }
  const epolls = scenarios.flatMap((scenario) =>
    servers.flatMap((server) => {
      const epoll = results.get(`${scenario.name}/${server}`)?.epoll;
      return epoll ? [{ scenario, server, epoll }] : [];
    })
  );
  if (epolls.length > 0) {
    lines.push(
      "",
      "| scenario (C epoll client) | server | round trips/s | p50 ms | p90 ms | p99 ms | max ms | mean ms | first reply after 1 s | never answered | errors | rt/conn min / p10 / median | Jain | waited > 1 s | timeouts |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const { scenario, server, epoll: e } of epolls) {
      const l = e.latency;
      const f = e.fairness;
      lines.push(
        `| ${scenario.name} | ${server} | ${format(e.roundTripsPerSecond)} | ${format(l.p50)} | ${
          format(l.p90)
        } | ${format(l.p99)} | ${format(l.max)} | ${
          format(l.mean)
        } | ${e.firstReplyAfter1s} | ${e.neverAnswered} | ${e.errors} | ${
          f ? `${f.min} / ${f.p10} / ${f.median}` : "-"
        } | ${f ? f.jain.toFixed(3) : "-"} | ${f?.waitedOver1s ?? "-"} | ${f?.timeouts ?? "-"} |`,
      );
    }
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
  const only = values.only?.split(",");
  const scenarios = SCENARIOS.filter((s) => only === undefined || only.includes(s.name));
  const servers = (values.servers?.split(",") ?? SERVERS).filter((s): s is ServerName =>
    (SERVERS as readonly string[]).includes(s)
  );
  const all = values.from === undefined
    ? await measureAll(scenarios, servers, seconds, rounds)
    : JSON.parse(await Deno.readTextFile(values.from)) as Measurement[];
  const results = new Map<string, Measurement>();
  for (const scenario of scenarios) {
    for (const server of servers) {
      const runs = all.filter((m) => m.scenario === scenario.name && m.server === server);
      if (runs.length > 0) results.set(`${scenario.name}/${server}`, best(scenario, runs));
    }
  }
  say(Deno.stdout, table(scenarios, servers, results));
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
    pinned ? "Servers on CPU 0, load generator on CPU 1" : "No taskset: processes not pinned",
  );
  if (oursFlags.length > 0) say(Deno.stderr, `Our server runs with ${oursFlags.join(" ")}`);
  if (scenarios.some((s) => s.epoll)) {
    epollClient = await buildEpollClient();
    if (!epollClient) say(Deno.stderr, "No C compiler: c1000 is measured by loadgen.ts alone");
  }
  const all: Measurement[] = [];
  try {
    for (const scenario of scenarios) {
      // Memory hardly depends on the other processes: two rounds are enough.
      for (let round = 0; round < (scenario.memory ? Math.min(rounds, 2) : rounds); round++) {
        for (const server of servers) {
          const m = await measure(scenario, server, seconds);
          say(
            Deno.stderr,
            `${scenario.name} ${server}: ${
              metrics(scenario, m).map(({ value, unit }) => `${format(value)} ${unit}`).join(", ")
            } (server core ${core(m.serverCpu, m.coreBusy[0])}, load core ${
              core(m.loadCpu, m.coreBusy[1])
            }, errors ${m.result.errors})`,
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
