/**
 * A small Prometheus registry, pure: counters, gauges and histograms with
 * labels, a JSON-able {@linkcode Snapshot} that several registries (one per
 * worker) can be summed into, and the text exposition format (version 0.0.4)
 * with `# HELP` and `# TYPE`. No I/O and no clock: the caller sets gauges such
 * as the uptime before it renders. Also {@linkcode ServerMetrics}, the guess
 * server's own families, and {@linkcode errorKind}, which names the kind of an
 * `ERROR` reply for the `guess_protocol_errors_total` counter.
 *
 * @module
 */

import { STRATEGIES } from "./strategies.ts";

/**
 * The kind of metric family.
 *
 * @example
 * ```ts
 * import type { MetricType } from "./metrics.ts";
 * const type: MetricType = "counter";
 * ```
 */
export type MetricType = "counter" | "gauge" | "histogram";

/**
 * One labelled series of a family: a value, or a histogram's cumulative
 * bucket counts (one per bound, `+Inf` last), sum and count.
 *
 * @example
 * ```ts
 * import type { Series } from "./metrics.ts";
 * const series: Series = { labels: { strategy: "bisect" }, value: 3 };
 * ```
 */
export interface Series {
  /** The label values, by label name. */
  readonly labels: Readonly<Record<string, string>>;
  /** A counter's or gauge's value. */
  value?: number;
  /** A histogram's observations at or below each bound (not cumulative; `+Inf` last). */
  buckets?: number[];
  /** A histogram's sum of observations. */
  sum?: number;
  /** A histogram's number of observations. */
  count?: number;
}

/**
 * One metric family in a {@linkcode Snapshot}.
 *
 * @example
 * ```ts
 * import type { Family } from "./metrics.ts";
 * const family: Family = { name: "up", help: "Whether it runs", type: "gauge", series: [] };
 * ```
 */
export interface Family {
  /** The metric name, e.g. `guess_games_started_total`. */
  readonly name: string;
  /** One line of help text. */
  readonly help: string;
  /** Counter, gauge or histogram. */
  readonly type: MetricType;
  /** A histogram's upper bounds, ascending, without `+Inf`. */
  readonly bounds?: readonly number[];
  /** How {@linkcode mergeSnapshots} combines a gauge of several registries: summed, or the largest. */
  readonly merge?: "sum" | "max";
  /** The series, one per label combination seen. */
  readonly series: Series[];
}

/**
 * The state of a registry as plain data: it can cross `postMessage` (a
 * worker's registry), be summed ({@linkcode mergeSnapshots}), and be rendered
 * ({@linkcode formatExposition}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./metrics.ts";
 * const registry = new Registry();
 * registry.counter("jobs_total", "Jobs done").inc();
 * assert.equal(registry.snapshot().length, 1);
 * ```
 */
export type Snapshot = Family[];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The key of a label combination: its values in label-name order. */
function keyOf(labelNames: readonly string[], labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(labelNames.map((name) => labels[name] ?? ""));
}

/**
 * A family being recorded: find or create a series by its labels.
 */
class FamilyRecorder {
  readonly family: Family & { series: Series[] };
  readonly #labelNames: readonly string[];
  readonly #index = new Map<string, Series>();

  constructor(family: Family, labelNames: readonly string[]) {
    if (!NAME.test(family.name)) throw new RangeError(`Bad metric name ${family.name}`);
    for (const label of labelNames) {
      if (!LABEL.test(label) || label === "le") throw new RangeError(`Bad label name ${label}`);
    }
    this.family = family;
    this.#labelNames = labelNames;
  }

  series(labels: Readonly<Record<string, string>>): Series {
    for (const name of Object.keys(labels)) {
      if (!this.#labelNames.includes(name)) {
        throw new RangeError(`Metric ${this.family.name} has no label ${name}`);
      }
    }
    const key = keyOf(this.#labelNames, labels);
    let series = this.#index.get(key);
    if (series === undefined) {
      const copy: Record<string, string> = {};
      for (const name of this.#labelNames) copy[name] = labels[name] ?? "";
      series = this.family.type === "histogram"
        ? {
          labels: copy,
          buckets: new Array(this.family.bounds!.length + 1).fill(0),
          sum: 0,
          count: 0,
        }
        : { labels: copy, value: 0 };
      this.#index.set(key, series);
      this.family.series.push(series);
    }
    return series;
  }
}

/**
 * A counter: only goes up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./metrics.ts";
 * const counter = new Registry().counter("requests_total", "Requests", ["code"]);
 * counter.inc({ code: "200" });
 * assert.equal(counter.get({ code: "200" }), 1);
 * ```
 */
export interface Counter {
  /** Adds `by` (default 1, at least 0) to the series of `labels`. */
  inc(labels?: Readonly<Record<string, string>>, by?: number): void;
  /** The value of the series of `labels`, 0 when never increased. */
  get(labels?: Readonly<Record<string, string>>): number;
  /** The series of `labels` alone, looked up once: for hot paths. */
  bind(labels: Readonly<Record<string, string>>): { inc(by?: number): void };
}

/**
 * A gauge: set, or moved up and down.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./metrics.ts";
 * const gauge = new Registry().gauge("open", "Open things");
 * gauge.inc();
 * gauge.inc({}, -1);
 * assert.equal(gauge.get(), 0);
 * ```
 */
export interface Gauge {
  /** Sets the series of `labels` to `value`. */
  set(value: number, labels?: Readonly<Record<string, string>>): void;
  /** Adds `by` (default 1, negative to subtract) to the series of `labels`. */
  inc(labels?: Readonly<Record<string, string>>, by?: number): void;
  /** The value of the series of `labels`. */
  get(labels?: Readonly<Record<string, string>>): number;
}

/**
 * A histogram with fixed upper bounds (`le`), plus `+Inf`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./metrics.ts";
 * const histogram = new Registry().histogram("guesses", "Guesses per game", [1, 4, 16]);
 * histogram.observe(3);
 * assert.equal(histogram.count(), 1);
 * ```
 */
export interface Histogram {
  /** Records one observation in the series of `labels`. */
  observe(value: number, labels?: Readonly<Record<string, string>>): void;
  /** How many observations the series of `labels` has. */
  count(labels?: Readonly<Record<string, string>>): number;
}

/**
 * A set of metric families, rendered together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatExposition, Registry } from "./metrics.ts";
 * const registry = new Registry();
 * registry.counter("jobs_total", "Jobs done").inc();
 * assert.match(formatExposition(registry.snapshot()), /^jobs_total 1$/m);
 * ```
 */
export class Registry {
  readonly #families: FamilyRecorder[] = [];

  #add(family: Family, labelNames: readonly string[]): FamilyRecorder {
    if (this.#families.some((recorder) => recorder.family.name === family.name)) {
      throw new RangeError(`Metric ${family.name} is already registered`);
    }
    const recorder = new FamilyRecorder(family, labelNames);
    this.#families.push(recorder);
    // A family without labels has its one series from the start, so it shows as 0.
    if (labelNames.length === 0) recorder.series({});
    return recorder;
  }

  /**
   * Adds a counter family; its name should end in `_total`.
   *
   * @param name The metric name.
   * @param help One line of help.
   * @param labelNames The label names, few and of low cardinality.
   * @returns The counter.
   */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const recorder = this.#add({ name, help, type: "counter", series: [] }, labelNames);
    return {
      inc(labels = {}, by = 1) {
        if (!(by >= 0)) throw new RangeError(`A counter only goes up, got ${by}`);
        recorder.series(labels).value! += by;
      },
      get: (labels = {}) => recorder.series(labels).value!,
      bind(labels) {
        const series = recorder.series(labels);
        return {
          inc(by = 1) {
            if (!(by >= 0)) throw new RangeError(`A counter only goes up, got ${by}`);
            series.value! += by;
          },
        };
      },
    };
  }

  /**
   * Adds a gauge family.
   *
   * @param name The metric name.
   * @param help One line of help.
   * @param labelNames The label names.
   * @param merge How several registries' values combine.
   * @default {"sum"} merge
   * @returns The gauge.
   */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    merge: "sum" | "max" = "sum",
  ): Gauge {
    const recorder = this.#add({ name, help, type: "gauge", merge, series: [] }, labelNames);
    return {
      set(value, labels = {}) {
        recorder.series(labels).value = value;
      },
      inc(labels = {}, by = 1) {
        recorder.series(labels).value! += by;
      },
      get: (labels = {}) => recorder.series(labels).value!,
    };
  }

  /**
   * Adds a histogram family.
   *
   * @param name The metric name, without `_bucket`, `_sum` or `_count`.
   * @param help One line of help.
   * @param bounds The buckets' upper bounds, ascending.
   * @param labelNames The label names.
   * @returns The histogram.
   */
  histogram(
    name: string,
    help: string,
    bounds: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    if (bounds.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1]))) {
      throw new RangeError("Histogram bounds must be finite and ascending");
    }
    const family: Family = { name, help, type: "histogram", bounds: [...bounds], series: [] };
    const recorder = this.#add(family, labelNames);
    return {
      observe(value, labels = {}) {
        const series = recorder.series(labels);
        let i = 0;
        while (i < bounds.length && value > bounds[i]) i++;
        series.buckets![i]++;
        series.sum! += value;
        series.count!++;
      },
      count: (labels = {}) => recorder.series(labels).count!,
    };
  }

  /**
   * A deep copy of every family, as plain data.
   *
   * @returns The snapshot.
   */
  snapshot(): Snapshot {
    return structuredClone(this.#families.map((recorder) => recorder.family));
  }
}

/**
 * Sums several snapshots of registries with the same families (e.g. one per
 * worker) into one: counters and histograms add up, gauges add up or take the
 * largest, as their family says. A family or series missing from some
 * snapshots counts as zero there.
 *
 * @param snapshots The snapshots.
 * @returns The merged snapshot, in the families' first-seen order.
 *
 * @example Two workers' games
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeSnapshots, Registry } from "./metrics.ts";
 * const a = new Registry(), b = new Registry();
 * a.counter("games_total", "Games").inc({}, 2);
 * b.counter("games_total", "Games").inc({}, 3);
 * const [games] = mergeSnapshots([a.snapshot(), b.snapshot()]);
 * assert.equal(games.series[0].value, 5);
 * ```
 */
export function mergeSnapshots(snapshots: readonly Snapshot[]): Snapshot {
  const merged = new Map<string, { family: Family; index: Map<string, Series> }>();
  for (const snapshot of snapshots) {
    for (const family of snapshot) {
      let entry = merged.get(family.name);
      if (entry === undefined) {
        entry = { family: { ...family, series: [] }, index: new Map() };
        merged.set(family.name, entry);
      } else if (
        entry.family.type !== family.type ||
        JSON.stringify(entry.family.bounds) !== JSON.stringify(family.bounds)
      ) {
        throw new RangeError(`Metric ${family.name} differs between snapshots`);
      }
      for (const series of family.series) {
        const key = JSON.stringify(Object.entries(series.labels).sort());
        const into = entry.index.get(key);
        if (into === undefined) {
          const copy = structuredClone(series);
          entry.index.set(key, copy);
          entry.family.series.push(copy);
        } else if (family.type === "histogram") {
          series.buckets!.forEach((n, i) => into.buckets![i] += n);
          into.sum! += series.sum!;
          into.count! += series.count!;
        } else if (family.type === "gauge" && family.merge === "max") {
          into.value = Math.max(into.value!, series.value!);
        } else {
          into.value! += series.value!;
        }
      }
    }
  }
  return [...merged.values()].map((entry) => entry.family);
}

/**
 * Escapes a label value for the text format: backslash, double quote and
 * newline.
 *
 * @param value The raw value.
 * @returns The escaped value, without quotes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeLabelValue } from "./metrics.ts";
 * assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
 * ```
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

function formatNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}

function formatLabels(labels: Readonly<Record<string, string>>, le?: string): string {
  const parts = Object.entries(labels).map(([name, value]) =>
    `${name}="${escapeLabelValue(value)}"`
  );
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/**
 * Renders a snapshot in the Prometheus text exposition format 0.0.4: per
 * family `# HELP` and `# TYPE`, then one line per series; a histogram as
 * cumulative `_bucket{le="…"}` lines ending with `le="+Inf"`, then `_sum` and
 * `_count`. Serve it as `text/plain; version=0.0.4; charset=utf-8`.
 *
 * @param snapshot The families.
 * @returns The text, ending in a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatExposition, Registry } from "./metrics.ts";
 * const registry = new Registry();
 * registry.histogram("guesses", "Guesses per game", [2, 4]).observe(3);
 * const text = formatExposition(registry.snapshot());
 * assert.match(text, /^guesses_bucket\{le="4"\} 1$/m);
 * assert.match(text, /^guesses_count 1$/m);
 * ```
 */
export function formatExposition(snapshot: Snapshot): string {
  const lines: string[] = [];
  for (const family of snapshot) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const series of family.series) {
      if (family.type !== "histogram") {
        lines.push(`${family.name}${formatLabels(series.labels)} ${formatNumber(series.value!)}`);
        continue;
      }
      let cumulative = 0;
      const bounds = family.bounds!;
      series.buckets!.forEach((n, i) => {
        cumulative += n;
        const le = i < bounds.length ? formatNumber(bounds[i]) : "+Inf";
        lines.push(`${family.name}_bucket${formatLabels(series.labels, le)} ${cumulative}`);
      });
      lines.push(`${family.name}_sum${formatLabels(series.labels)} ${formatNumber(series.sum!)}`);
      lines.push(`${family.name}_count${formatLabels(series.labels)} ${series.count}`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * The kinds of protocol error counted by `guess_protocol_errors_total`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR_KINDS } from "./metrics.ts";
 * assert.ok(ERROR_KINDS.includes("unknown_command"));
 * ```
 */
export const ERROR_KINDS = [
  "unknown_command",
  "empty_line",
  "bad_argument",
  "no_game",
  "no_guess",
  "range_exhausted",
  "inconsistent_reports",
  "invalid_utf8",
  "line_too_long",
  "too_many_errors",
  "bad_message",
  "bad_proxy_header",
  "idle_timeout",
  "server_busy",
  "shutting_down",
  "other",
] as const;

/**
 * A kind of protocol error.
 *
 * @example
 * ```ts
 * import type { ErrorKind } from "./metrics.ts";
 * const kind: ErrorKind = "no_game";
 * ```
 */
export type ErrorKind = typeof ERROR_KINDS[number];

const KIND_BY_PREFIX: readonly (readonly [string, ErrorKind])[] = [
  ["Unknown command ", "unknown_command"],
  ["Empty line", "empty_line"],
  ["PARAMS takes ", "bad_argument"],
  ["NUMBER takes ", "bad_argument"],
  ["REPORT takes ", "bad_argument"],
  ["Lower bound ", "bad_argument"],
  ["Upper bound ", "bad_argument"],
  ["Unknown decision ", "bad_argument"],
  ["No game in progress", "no_game"],
  ["No guess to judge", "no_guess"],
  ["Range exhausted", "range_exhausted"],
  ["Inconsistent reports", "inconsistent_reports"],
  ["Line is not valid UTF-8", "invalid_utf8"],
  ["Line too long", "line_too_long"],
  ["Too many errors", "too_many_errors"],
  ["Message ", "bad_message"],
  ["Binary message", "bad_message"],
  ["Too many messages", "bad_message"],
  ["Idle timeout", "idle_timeout"],
  ["Server busy", "server_busy"],
  ["Server shutting down", "shutting_down"],
];

/**
 * Names the kind of an `ERROR` reply from its message (the text after
 * `ERROR `), for the errors-by-kind counter. The messages are those of
 * PROTOCOL.md; tests check every one the server sends.
 *
 * @param message The error message.
 * @returns Its kind, `other` when unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorKind } from "./metrics.ts";
 * assert.equal(errorKind("No game in progress: send PARAMS lower upper first"), "no_game");
 * ```
 */
export function errorKind(message: string): ErrorKind {
  for (const [prefix, kind] of KIND_BY_PREFIX) {
    if (message.startsWith(prefix)) return kind;
  }
  return "other";
}

/**
 * The transports a connection can arrive on.
 *
 * @example
 * ```ts
 * import type { TransportName } from "./metrics.ts";
 * const transport: TransportName = "websocket";
 * ```
 */
export type TransportName = "tcp" | "websocket";

/** Upper bounds of the guesses-per-game buckets: bisect needs about log2 N, random N / 2. */
const GUESS_BOUNDS = [1, 2, 4, 8, 12, 16, 24, 32, 64, 128, 256, 1024, 4096];

/**
 * The guess server's metric families, in one {@linkcode Registry}. Every
 * counter is per process; with several workers each has its own and the
 * snapshots are summed with {@linkcode mergeSnapshots} (the uptime takes the
 * largest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerMetrics } from "./metrics.ts";
 * const metrics = new ServerMetrics();
 * metrics.gamesStarted.inc({ strategy: "bisect" });
 * assert.match(metrics.render(1), /^guess_games_started_total\{strategy="bisect"\} 1$/m);
 * ```
 */
export class ServerMetrics {
  /** The registry holding every family below. */
  readonly registry: Registry = new Registry();
  /** Connections open now, by transport. */
  readonly connectionsOpen: Gauge = this.registry.gauge(
    "guess_connections_open",
    "Game connections open now",
    ["transport"],
  );
  /** Connections accepted, by transport. */
  readonly connectionsAccepted: Counter = this.registry.counter(
    "guess_connections_accepted_total",
    "Game connections accepted",
    ["transport"],
  );
  /** Connections refused (over the limit, or while shutting down), by transport. */
  readonly connectionsRefused: Counter = this.registry.counter(
    "guess_connections_refused_total",
    "Game connections refused: over --max-connections, or while shutting down",
    ["transport"],
  );
  /** Games started, by strategy. */
  readonly gamesStarted: Counter = this.registry.counter(
    "guess_games_started_total",
    "Games started (PARAMS with lower <= upper)",
    ["strategy"],
  );
  /** Games that reached `REPORT Correct`, by strategy. */
  readonly gamesFinished: Counter = this.registry.counter(
    "guess_games_finished_total",
    "Games that reached REPORT Correct",
    ["strategy"],
  );
  /** Games ended or disconnected before `REPORT Correct`, by strategy. */
  readonly gamesAbandoned: Counter = this.registry.counter(
    "guess_games_abandoned_total",
    "Games ended (new PARAMS, or the connection closed) before REPORT Correct",
    ["strategy"],
  );
  /** Guesses of each finished game, by strategy. */
  readonly guessesPerGame: Histogram = this.registry.histogram(
    "guess_guesses_per_game",
    "Guesses a finished game took, counting the correct one",
    GUESS_BOUNDS,
    ["strategy"],
  );
  /** `ERROR` replies, by kind. */
  readonly protocolErrors: Counter = this.registry.counter(
    "guess_protocol_errors_total",
    "ERROR replies sent, by kind",
    ["kind"],
  );
  /** Protocol bytes received, by transport. */
  readonly bytesReceived: Counter = this.registry.counter(
    "guess_received_bytes_total",
    "Protocol bytes received (a WebSocket message counts with its newline)",
    ["transport"],
  );
  /** Protocol bytes sent, by transport. */
  readonly bytesSent: Counter = this.registry.counter(
    "guess_sent_bytes_total",
    "Protocol bytes sent (a WebSocket message counts with its newline)",
    ["transport"],
  );
  /** HTTP requests answered, by status code. */
  readonly httpRequests: Counter = this.registry.counter(
    "guess_http_requests_total",
    "HTTP requests answered, by status code",
    ["code"],
  );
  /** Seconds since the server started; set by {@linkcode ServerMetrics.render}. */
  readonly uptime: Gauge = this.registry.gauge(
    "guess_uptime_seconds",
    "Seconds since the server started",
    [],
    "max",
  );

  /**
   * Makes the families with a series for every known label value at 0, so a
   * scrape shows `guess_games_started_total{strategy="bisect"} 0` before the
   * first game instead of a family with no samples (a rate over a series that
   * appears later misses its first increase).
   */
  constructor() {
    for (const transport of ["tcp", "websocket"] satisfies TransportName[]) {
      for (const metric of [this.connectionsAccepted, this.connectionsRefused]) {
        metric.get({ transport });
      }
      for (const metric of [this.bytesReceived, this.bytesSent]) metric.get({ transport });
      this.connectionsOpen.get({ transport });
    }
    for (const strategy of STRATEGIES) {
      for (const metric of [this.gamesStarted, this.gamesFinished, this.gamesAbandoned]) {
        metric.get({ strategy });
      }
      this.guessesPerGame.count({ strategy });
    }
    for (const [, kind] of KIND_BY_PREFIX) this.protocolErrors.get({ kind });
    this.protocolErrors.get({ kind: "other" });
  }

  /**
   * Counts every `ERROR` line in a batch of replies.
   *
   * @param out Reply text, whole lines.
   */
  countErrors(out: string): void {
    let at = out.indexOf("ERROR ");
    while (at !== -1) {
      if (at === 0 || out.charCodeAt(at - 1) === 0x0a) {
        const end = out.indexOf("\n", at);
        this.protocolErrors.inc({
          kind: errorKind(out.slice(at + 6, end === -1 ? undefined : end)),
        });
      }
      at = out.indexOf("ERROR ", at + 6);
    }
  }

  /**
   * The exposition text, with the uptime set first.
   *
   * @param uptimeSeconds Seconds since the server started.
   * @returns The text of `/metrics`.
   */
  render(uptimeSeconds: number): string {
    this.uptime.set(uptimeSeconds);
    return formatExposition(this.registry.snapshot());
  }
}
