import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import {
  ERROR_KINDS,
  errorKind,
  escapeLabelValue,
  formatExposition,
  mergeSnapshots,
  Registry,
  ServerMetrics,
} from "../metrics.ts";
import { ServerConnection } from "../protocol.ts";
import { Rng } from "../strategy.ts";
import { encode } from "./helpers.ts";

interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    sum?: string;
    count?: string;
  }[];
}

const parse = (text: string): ParsedFamily[] => parsePrometheus(text) as ParsedFamily[];

Deno.test("formatExposition() writes HELP, TYPE and one line per series, exactly", () => {
  const registry = new Registry();
  registry.counter("jobs_total", "Jobs done", ["kind"]).inc({ kind: "a" }, 2);
  registry.gauge("open", "Open things").set(3);
  assert.equal(
    formatExposition(registry.snapshot()),
    [
      "# HELP jobs_total Jobs done",
      "# TYPE jobs_total counter",
      'jobs_total{kind="a"} 2',
      "# HELP open Open things",
      "# TYPE open gauge",
      "open 3",
      "",
    ].join("\n"),
  );
});

Deno.test("formatExposition() writes a histogram as cumulative buckets up to +Inf, sum and count", () => {
  const registry = new Registry();
  const histogram = registry.histogram("guesses", "Guesses per game", [1, 4, 16], ["strategy"]);
  for (const value of [1, 3, 4, 9, 100]) histogram.observe(value, { strategy: "bisect" });
  const text = formatExposition(registry.snapshot());
  assert.equal(
    text.split("\n").filter((line) => line.startsWith("guesses")).join("\n"),
    [
      'guesses_bucket{strategy="bisect",le="1"} 1',
      'guesses_bucket{strategy="bisect",le="4"} 3',
      'guesses_bucket{strategy="bisect",le="16"} 4',
      'guesses_bucket{strategy="bisect",le="+Inf"} 5',
      'guesses_sum{strategy="bisect"} 117',
      'guesses_count{strategy="bisect"} 5',
    ].join("\n"),
  );
  // The parser reads labelled histograms' buckets but not their _sum and _count (it
  // flattens a histogram family into one series): check it on an unlabelled one.
  const plain = new Registry();
  const unlabelled = plain.histogram("guesses", "Guesses per game", [1, 4, 16]);
  for (const value of [1, 3, 4, 9, 100]) unlabelled.observe(value);
  const [family] = parse(formatExposition(plain.snapshot()));
  assert.equal(family.type, "HISTOGRAM");
  assert.deepEqual(family.metrics[0].buckets, { "1": "1", "4": "3", "16": "4", "+Inf": "5" });
  assert.equal(family.metrics[0].count, "5");
  assert.equal(family.metrics[0].sum, "117");
});

Deno.test("label values are escaped: a real parser reads back backslash, quote and newline", () => {
  const registry = new Registry();
  const nasty = 'a\\b"c\nd}';
  registry.counter("odd_total", "Odd labels\nand help with \\", ["value"]).inc({ value: nasty });
  const text = formatExposition(registry.snapshot());
  assert.equal(text.split("\n").length, 4, "no raw newline inside a line");
  assert.equal(escapeLabelValue(nasty), 'a\\\\b\\"c\\nd}');
  const [family] = parse(text);
  assert.equal(family.metrics[0].labels!.value, nasty);
});

Deno.test("Registry refuses bad names, a duplicate family, unknown labels and a counter going down", () => {
  const registry = new Registry();
  assert.throws(() => registry.counter("bad-name", "x"), RangeError);
  assert.throws(() => registry.counter("ok_total", "x", ["le"]), RangeError);
  const counter = registry.counter("ok_total", "x", ["a"]);
  assert.throws(() => registry.gauge("ok_total", "x"), RangeError);
  assert.throws(() => counter.inc({ b: "1" }), RangeError);
  assert.throws(() => counter.inc({ a: "1" }, -1), RangeError);
  assert.throws(() => registry.histogram("h", "x", [2, 1]), RangeError);
});

Deno.test("mergeSnapshots() sums counters and histograms, sums or maxes gauges", () => {
  const make = (games: number, uptime: number, open: number, guesses: number[]) => {
    const registry = new Registry();
    registry.counter("games_total", "Games", ["strategy"]).inc({ strategy: "bisect" }, games);
    registry.gauge("uptime_seconds", "Uptime", [], "max").set(uptime);
    registry.gauge("open", "Open").set(open);
    const histogram = registry.histogram("guesses", "Guesses", [4, 8]);
    for (const value of guesses) histogram.observe(value);
    return registry.snapshot();
  };
  const merged = mergeSnapshots([make(2, 10, 1, [3, 9]), make(3, 12, 4, [5])]);
  const text = formatExposition(merged);
  assert.match(text, /^games_total\{strategy="bisect"\} 5$/m);
  assert.match(text, /^uptime_seconds 12$/m);
  assert.match(text, /^open 5$/m);
  assert.match(text, /^guesses_bucket\{le="4"\} 1$/m);
  assert.match(text, /^guesses_bucket\{le="8"\} 2$/m);
  assert.match(text, /^guesses_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^guesses_sum 17$/m);
  const other = new Registry();
  other.gauge("games_total", "Games");
  assert.throws(() => mergeSnapshots([merged, other.snapshot()]), RangeError);
});

Deno.test("a snapshot survives structuredClone, as across postMessage to a worker", () => {
  const registry = new Registry();
  registry.counter("a_total", "A").inc();
  const copy = structuredClone(registry.snapshot());
  assert.equal(formatExposition(copy), formatExposition(registry.snapshot()));
});

Deno.test("errorKind() names every ERROR the protocol core sends, none as other", () => {
  const lines = [
    "HELLO",
    "",
    "PARAMS 1",
    "NUMBER 2",
    "REPORT",
    "PARAMS x 2",
    "PARAMS 1 99999999999999999",
    "REPORT Hot",
    "NUMBER",
    "PARAMS 1 2",
    "REPORT Unsure",
    "NUMBER",
    "NUMBER",
    "NUMBER",
  ];
  const connection = new ServerConnection({ rng: new Rng(1), maxLineBytes: 64 });
  let out = connection.receive(encode(lines.join("\n") + "\n"));
  out += connection.receive(new Uint8Array([0xff, 0x0a]));
  const bisect = new ServerConnection({ strategy: "bisect", rng: new Rng(1), maxLineBytes: 64 });
  out += bisect.receive(encode("PARAMS 1 10\nNUMBER\nREPORT Warmer\nNUMBER\n"));
  out += connection.receive(encode("X".repeat(65)));
  // 1000 bad lines in a row: the core's last word before it closes.
  out += new ServerConnection({ rng: new Rng(1) }).receive(encode("HELLO\n".repeat(1000)));
  const errors = out.split("\n").filter((line) => line.startsWith("ERROR ")).map((line) =>
    line.slice(6)
  );
  const kinds = new Set(errors.map(errorKind));
  assert.ok(!kinds.has("other"), errors.filter((e) => errorKind(e) === "other").join("; "));
  for (
    const kind of [
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
    ] as const
  ) assert.ok(kinds.has(kind), `no ${kind} among ${errors.join("; ")}`);
  assert.equal(errorKind("Idle timeout"), "idle_timeout");
  assert.equal(errorKind("Server busy: 3 connections, try again later"), "server_busy");
  assert.equal(errorKind("Server shutting down"), "shutting_down");
  assert.equal(errorKind("Something new"), "other");
  assert.ok(ERROR_KINDS.includes("bad_message"));
});

Deno.test("ServerMetrics counts each ERROR line of a batch by kind", () => {
  const metrics = new ServerMetrics();
  metrics.countErrors("1\nERROR No game in progress: x\n2\nERROR Idle timeout\n");
  metrics.countErrors("ERROR No game in progress: x\n");
  assert.equal(metrics.protocolErrors.get({ kind: "no_game" }), 2);
  assert.equal(metrics.protocolErrors.get({ kind: "idle_timeout" }), 1);
});

Deno.test("ServerMetrics renders every family with HELP and TYPE, readable by a real parser", () => {
  const metrics = new ServerMetrics();
  metrics.gamesStarted.inc({ strategy: "random" });
  metrics.guessesPerGame.observe(7, { strategy: "random" });
  const text = metrics.render(12.5);
  const families = parse(text);
  const names = families.map((family) => family.name);
  for (
    const name of [
      "guess_connections_open",
      "guess_connections_accepted_total",
      "guess_connections_refused_total",
      "guess_games_started_total",
      "guess_games_finished_total",
      "guess_games_abandoned_total",
      "guess_guesses_per_game",
      "guess_protocol_errors_total",
      "guess_received_bytes_total",
      "guess_sent_bytes_total",
      "guess_uptime_seconds",
    ]
  ) {
    assert.ok(names.includes(name), `no ${name}`);
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"));
  }
  for (const family of families) {
    if (family.type === "COUNTER") assert.match(family.name, /_total$/);
  }
  assert.equal(families.find((f) => f.name === "guess_uptime_seconds")!.metrics[0].value, "12.5");
});
