/**
 * Property tests (fast-check) of the pure core: the line splitter, the server
 * connection (splitter + session), the random strategy, the judge and the
 * command/reply formats. No sockets. Every property runs from a fixed seed
 * with a bounded number of runs; on failure fast-check prints the seed and
 * the shrunk counterexample, and `{ seed, path }` replays it.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { LineSplitter, LineTooLongError } from "../framing.ts";
import {
  type Command,
  DECISIONS,
  formatCommand,
  formatReply,
  judge,
  parseCommand,
  parseReply,
  ProtocolError,
  type Reply,
  ServerConnection,
  Session,
  tryParseCommand,
} from "../protocol.ts";
import { RandomStrategy, SHUFFLE_LIMIT, ShuffleStrategy } from "../random.ts";
import { createStrategy } from "../strategies.ts";
import { Rng, type Strategy } from "../strategy.ts";

const SEED = 20261125;
const MIN = BigInt(Number.MIN_SAFE_INTEGER);
const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const LF = 0x0a;
const CR = 0x0d;
const encoder = new TextEncoder();

// ---------------------------------------------------------------- generators

/** A safe integer, biased towards 0, ±1 and the two ends of the safe range. */
const safeInteger: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt(MIN, MAX),
  fc.bigInt(0n, 1000n).map((n) => MAX - n),
  fc.bigInt(0n, 1000n).map((n) => MIN + n),
  fc.bigInt(-1000n, 1000n),
  fc.constantFrom(MIN, MAX, 0n, -1n, 1n, 2n ** 52n, -(2n ** 52n)),
);

/** Pieces of commands and hostile bytes, so that random input often parses. */
const fragment: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "PARAMS ",
      "NUMBER",
      "REPORT ",
      "Warmer",
      "Colder",
      "Unsure",
      "Correct",
      "-",
      " ",
      "\r",
      "\n",
      "\r\n",
      "0",
      "007",
      "9007199254740991",
      "9007199254740992",
      "PARAMS 1 3\n",
      "PARAMS 0 -1\n",
      "PARAMS -2 2\n",
      "NUMBER\n",
      "REPORT Correct\n",
      "REPORT Unsure\n",
    ).map((text) => encoder.encode(text)),
  },
  { weight: 3, arbitrary: fc.integer({ min: -20, max: 20 }).map((n) => encoder.encode(`${n}`)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      Uint8Array.of(0xff),
      Uint8Array.of(0xc3),
      Uint8Array.of(0xc3, 0xa9),
      Uint8Array.of(0x00),
      Uint8Array.of(0x7f),
    ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
);

/** A command line, valid or nearly: small ranges, so games run out of values. */
const commandLine: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -1, max: 5 }))
      .map(([lower, span]) => `PARAMS ${lower} ${lower + span}`),
  },
  { weight: 1, arbitrary: fc.tuple(safeInteger, safeInteger).map(([a, b]) => `PARAMS ${a} ${b}`) },
  { weight: 5, arbitrary: fc.constant("NUMBER") },
  { weight: 3, arbitrary: fc.constantFrom(...DECISIONS).map((d) => `REPORT ${d}`) },
  { weight: 1, arbitrary: fc.constantFrom("", "PARAMS 1", "NUMBER 1", "REPORT warmer", "number") },
).map((text) => encoder.encode(text));

/** Lines mostly ended by `\n` or `\r\n`, sometimes run together or mangled. */
const lines: fc.Arbitrary<Uint8Array> = fc.array(
  fc.tuple(
    fc.oneof({ weight: 6, arbitrary: commandLine }, { weight: 1, arbitrary: fragment }),
    fc.constantFrom("\n", "\n", "\n", "\r\n", "\r\n", "", "\r", " \n").map((end) =>
      encoder.encode(end)
    ),
  ).map(concat),
  { maxLength: 60, size: "max" },
).map(concat);

/** Any bytes: uniform, made of fragments, random bytes and newlines, or command lines. */
const bytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300, size: "max" }) },
  { weight: 1, arbitrary: fc.uint8Array({ min: 8, max: 13, maxLength: 200, size: "max" }) },
  { weight: 3, arbitrary: fc.array(fragment, { maxLength: 80, size: "max" }).map(concat) },
  { weight: 4, arbitrary: lines },
);

/** Bytes and the chunks they are cut into (empty chunks included). */
const chunked: fc.Arbitrary<{ input: Uint8Array; chunks: Uint8Array[] }> = fc
  .tuple(bytes, fc.array(fc.nat(), { maxLength: 12, size: "max" }))
  .map(([input, cuts]) => ({ input, chunks: cut(input, cuts) }));

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

function cut(input: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((n) => n % (input.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, input.length]) {
    chunks.push(input.slice(start, point));
    start = point;
  }
  return chunks;
}

function byteByByte(input: Uint8Array): Uint8Array[] {
  return Array.from(input, (byte) => Uint8Array.of(byte));
}

// ------------------------------------------------------ reference line model

/** One line of the input: [start, end) before its `\n`, the `\r` included. */
interface Segment {
  readonly start: number;
  readonly end: number;
  readonly terminated: boolean;
}

/** Splits on `\n`; the unterminated rest, when not empty, is the last segment. */
function segments(input: Uint8Array): Segment[] {
  const all: Segment[] = [];
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] === LF) {
      all.push({ start, end: i, terminated: true });
      start = i + 1;
    }
  }
  if (start < input.length) all.push({ start, end: input.length, terminated: false });
  return all;
}

/** The segment's bytes minus one trailing `\r`. */
function lineOf(input: Uint8Array, segment: Segment): number[] {
  const end = segment.end > segment.start && input[segment.end - 1] === CR
    ? segment.end - 1
    : segment.end;
  return Array.from(input.subarray(segment.start, end));
}

// ------------------------------------------------------------- LineSplitter

Deno.test("LineSplitter() emits the reference lines for any bytes split anywhere", () => {
  fc.assert(
    fc.property(chunked, fc.integer({ min: 1, max: 40 }), ({ input, chunks }, limit) => {
      const splitter = new LineSplitter(limit);
      const lines: number[][] = [];
      let fed = 0;
      let thrownAt: number | undefined; // the index of the chunk that threw
      for (const [index, chunk] of chunks.entries()) {
        try {
          splitter.push(
            chunk,
            (line, start, end) => lines.push(Array.from(line.subarray(start, end))),
          );
        } catch (error) {
          assert.ok(error instanceof LineTooLongError, `unexpected ${error}`);
          assert.equal(error.limit, limit);
          thrownAt = index;
          break;
        } finally {
          fed += chunk.length;
        }
        const lastLF = input.subarray(0, fed).lastIndexOf(LF);
        assert.equal(splitter.buffered, fed - lastLF - 1);
        assert.ok(splitter.buffered <= limit);
      }

      const all = segments(input);
      const bad = all.findIndex((segment) => segment.end - segment.start > limit);
      const good = bad === -1 ? all : all.slice(0, bad);
      const terminated = good.filter((segment) => segment.terminated);
      assert.deepEqual(lines, terminated.map((segment) => lineOf(input, segment)));

      if (bad === -1) {
        assert.equal(thrownAt, undefined);
        const last = all.at(-1);
        const rest = last && !last.terminated ? lineOf(input, last) : undefined;
        const end = splitter.end();
        assert.deepEqual(end && Array.from(end), rest);
        assert.equal(splitter.buffered, 0);
        assert.equal(splitter.end(), undefined);
        return;
      }
      // Thrown by the push that carried byte limit + 1 of the long line, not later.
      const tooFar = all[bad].start + limit;
      assert.notEqual(thrownAt, undefined, "no LineTooLongError");
      const chunkStart = chunks.slice(0, thrownAt).reduce((sum, c) => sum + c.length, 0);
      assert.ok(chunkStart <= tooFar && tooFar < chunkStart + chunks[thrownAt!].length);
      assert.equal(splitter.buffered, 0);
      assert.throws(() => splitter.push(new Uint8Array(), () => {}), LineTooLongError);
    }),
    { seed: SEED, numRuns: 400 },
  );
});

// --------------------------------------------------------- ServerConnection

/** The server's expected behaviour for one connection, replayed line by line. */
interface Game {
  readonly lower: bigint;
  readonly upper: bigint;
  readonly drawn: Set<bigint>;
  last: bigint | undefined;
  secret: bigint | undefined;
}

const PARAMS = /^PARAMS (-?[0-9]+) (-?[0-9]+)$/;
const REPORT = /^REPORT (Warmer|Colder|Unsure|Correct)$/;
const ERROR_LINE = /^ERROR [\x20-\x7e]+$/;
const INTEGER_LINE = /^(0|-?[1-9][0-9]*)$/;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function isSafe(n: bigint): boolean {
  return n >= MIN && n <= MAX;
}

/**
 * Checks `output` (everything the connection wrote) against the input: one
 * reply per line that needs one, in order; a guess is a new value of the
 * running game's range (or its secret after `REPORT Correct`) or, once the
 * range is exhausted, an ERROR; a bad line gets one ERROR; a line over the
 * limit gets one ERROR and nothing follows.
 */
function checkTranscript(input: Uint8Array, limit: number, output: string): void {
  assert.ok(output === "" || output.endsWith("\n"), "output ends mid-line");
  const replies = output === "" ? [] : output.slice(0, -1).split("\n");
  let next = 0;
  const reply = (): string => {
    assert.ok(next < replies.length, "a reply is missing");
    return replies[next++];
  };
  const expectError = (kind?: string): void => {
    const text = reply();
    assert.match(text, ERROR_LINE);
    if (kind !== undefined) assert.ok(text.startsWith(`ERROR ${kind}`), `${text}: not ${kind}`);
  };
  let game: Game | undefined;

  for (const segment of segments(input)) {
    if (segment.end - segment.start > limit) {
      assert.match(reply(), /^ERROR Line too long/);
      assert.equal(next, replies.length, "output after the connection closed");
      return;
    }
    const bytes = Uint8Array.from(lineOf(input, segment));
    if (bytes.length === 0) {
      expectError("Empty line");
      continue;
    }
    if (!isUtf8(bytes)) {
      expectError("Line is not valid UTF-8");
      continue;
    }
    const line = String.fromCharCode(...bytes); // non-ASCII never parses
    const params = PARAMS.exec(line);
    const report = REPORT.exec(line);
    if (params) {
      const lower = BigInt(params[1]), upper = BigInt(params[2]);
      if (!isSafe(lower) || !isSafe(upper)) {
        expectError();
        continue;
      }
      game = lower <= upper
        ? { lower, upper, drawn: new Set(), last: undefined, secret: undefined }
        : undefined;
    } else if (line === "NUMBER") {
      if (game === undefined) {
        expectError("No game in progress");
      } else if (game.secret !== undefined) {
        assert.equal(reply(), `${game.secret}`);
      } else if (BigInt(game.drawn.size) === game.upper - game.lower + 1n) {
        expectError("Range exhausted");
      } else {
        const text = reply();
        assert.match(text, INTEGER_LINE);
        const value = BigInt(text);
        assert.ok(value >= game.lower && value <= game.upper, `${value} out of range`);
        assert.ok(!game.drawn.has(value), `${value} guessed twice`);
        game.drawn.add(value);
        game.last = value;
      }
    } else if (report) {
      if (game === undefined) {
        expectError("No game in progress");
      } else if (game.last === undefined) {
        expectError("No guess to judge");
      } else if (report[1] === "Correct") {
        game.secret = game.last;
      }
    } else {
      expectError();
    }
  }
  assert.equal(next, replies.length, "more replies than lines that need one");
}

/** Feeds the chunks, then ends the input; returns everything written. */
function feed(chunks: Uint8Array[], limit: number, seed: number): string {
  const connection = new ServerConnection({ maxLineBytes: limit, rng: new Rng(seed) });
  let output = "";
  for (const chunk of chunks) {
    const wasClosed = connection.closed;
    const out = connection.receive(chunk);
    if (wasClosed) assert.equal(out, "", "output after closed");
    assert.ok(connection.buffered <= limit);
    output += out;
  }
  const wasClosed = connection.closed;
  const out = connection.end();
  if (wasClosed) assert.equal(out, "", "output after closed");
  assert.ok(connection.closed);
  assert.equal(connection.receive(encoder.encode("NUMBER\n")), "");
  assert.equal(connection.end(), "");
  return output + out;
}

Deno.test(
  "ServerConnection() answers any bytes split anywhere with in-range guesses or one ERROR line",
  () => {
    const limit = fc.oneof(fc.constantFrom(32, 64), fc.integer({ min: 1, max: 64 }));
    fc.assert(
      fc.property(chunked, limit, fc.nat(), ({ input, chunks }, limit, seed) => {
        const whole = feed([input], limit, seed);
        checkTranscript(input, limit, whole);
        assert.equal(feed(chunks, limit, seed), whole);
        assert.equal(feed(byteByByte(input), limit, seed), whole);
      }),
      { seed: SEED, numRuns: 300 },
    );
  },
);

Deno.test("ServerConnection() closes after the first line over the limit, whole or chunked", () => {
  fc.assert(
    fc.property(
      fc.array(fragment, { maxLength: 10 }).map(concat),
      fc.integer({ min: 1, max: 40 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (before, limit, after, cuts) => {
        // A long line after arbitrary input, then anything: the ERROR is the last output.
        const long = new Uint8Array(limit + 1).fill(0x41);
        const input = concat([before, Uint8Array.of(LF), long, after]);
        const whole = feed([input], limit, 1);
        assert.match(whole, /ERROR Line too long: the limit is [0-9]+ bytes, closing\n$/);
        checkTranscript(input, limit, whole);
        assert.equal(feed(cut(input, cuts), limit, 1), whole);
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
});

/** Tokens of nearly valid command lines: the core's byte path and its text parser must agree. */
const token = fc.constantFrom(
  "PARAMS",
  "REPORT",
  "NUMBER",
  "PARAM",
  "REPORTS",
  " ",
  "  ",
  "-",
  "--",
  "0",
  "1",
  "9",
  "007",
  "-0",
  "123456789012345",
  "999999999999999",
  "1234567890123456",
  "9007199254740991",
  "9007199254740992",
  "-9007199254740991",
  ...DECISIONS,
  "correct",
  "Correct ",
  "x",
  "\t",
  "\u00e9",
);

/** A command word and fields, one space before each (as valid lines have), or tokens run together. */
const line: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(
    fc.constantFrom("PARAMS", "REPORT", "NUMBER"),
    fc.array(fc.oneof(token, fc.integer({ min: -200, max: 200 }).map(String)), { maxLength: 3 }),
  ).map(([word, fields]) => [word, ...fields].join(" ")),
  fc.array(token, { maxLength: 6 }).map((parts) => parts.join("")),
);

Deno.test("ServerConnection() answers every line as Session does with tryParseCommand()", () => {
  const decoder = new TextDecoder();
  fc.assert(
    fc.property(
      fc.array(line, { maxLength: 12 }),
      fc.nat(),
      (lines, seed) => {
        const connection = new ServerConnection({ rng: new Rng(seed) });
        const session = new Session({ rng: new Rng(seed) });
        for (const line of lines) {
          const parsed = tryParseCommand(line);
          const reply: Reply | undefined = parsed.type === "invalid"
            ? { type: "error", message: parsed.message }
            : session.handle(parsed);
          const expected = reply === undefined ? "" : formatReply(reply);
          const turn = connection.feedBytes(encoder.encode(`${line}\n`));
          assert.equal(decoder.decode(turn.output), expected, `line ${JSON.stringify(line)}`);
          assert.equal(turn.errors, reply?.type === "error" ? 1 : 0);
        }
      },
    ),
    { seed: SEED, numRuns: 500 },
  );
});

// ----------------------------------------------------------- RandomStrategy

/** Draws `count` guesses. */
function draw(strategy: Strategy, count: number): number[] {
  return Array.from({ length: count }, () => strategy.next());
}

/** Asserts that `values` is [lower, lower + size) in some order, then exhaustion. */
function assertPermutation(strategy: Strategy, lower: number, size: number): void {
  const values = draw(strategy, size);
  const seen = new Uint8Array(size);
  for (const value of values) {
    assert.ok(Number.isSafeInteger(value), `${value} is not a safe integer`);
    const index = value - lower; // exact: both ends are safe and close
    assert.ok(index >= 0 && index < size, `${value} outside [${lower}, ${lower + size - 1}]`);
    assert.equal(seen[index], 0, `${value} drawn twice`);
    seen[index] = 1;
  }
  const exhausted = {
    name: "StrategyError",
    message: `Range exhausted: every value in [${lower}, ${lower + size - 1}] was guessed`,
  };
  assert.throws(() => strategy.next(), exhausted);
  assert.throws(() => strategy.next(), exhausted);
}

/** A lower bound such that [lower, lower + size - 1] is inside the safe range. */
function lowerFor(size: number): fc.Arbitrary<number> {
  const top = MAX - BigInt(size) + 1n;
  return fc.oneof(
    fc.bigInt(MIN, top),
    fc.bigInt(-1000n, 1000n),
    fc.constantFrom(MIN, top, 0n, -BigInt(size)),
  ).map(Number);
}

/** A seed for Rng: any safe integer. */
const rngSeed = fc.oneof(fc.integer(), fc.bigInt(MIN, MAX).map(Number));

Deno.test("RandomStrategy() draws each value of a small range exactly once, then throws", () => {
  const sized = fc.integer({ min: 1, max: 300 }).chain((size) =>
    fc.tuple(fc.constant(size), lowerFor(size), rngSeed)
  );
  fc.assert(
    fc.property(sized, ([size, lower, seed]) => {
      assertPermutation(new RandomStrategy(lower, lower + size - 1, new Rng(seed)), lower, size);
      const first = draw(new RandomStrategy(lower, lower + size - 1, new Rng(seed)), size);
      const again = draw(new RandomStrategy(lower, lower + size - 1, new Rng(seed)), size);
      assert.deepEqual(again, first);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("ShuffleStrategy() draws each value of a range under SHUFFLE_LIMIT exactly once, then throws", () => {
  const sized = fc.integer({ min: 1, max: SHUFFLE_LIMIT }).chain((size) =>
    fc.tuple(fc.constant(size), lowerFor(size), rngSeed)
  );
  fc.assert(
    fc.property(sized, ([size, lower, seed]) => {
      assertPermutation(new ShuffleStrategy(lower, lower + size - 1, new Rng(seed)), lower, size);
      const first = draw(new ShuffleStrategy(lower, lower + size - 1, new Rng(seed)), size);
      const again = draw(new ShuffleStrategy(lower, lower + size - 1, new Rng(seed)), size);
      assert.deepEqual(again, first);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("ShuffleStrategy() makes the swaps of the textbook shuffle with %, so a seed replays the same games", () => {
  const sized = fc.integer({ min: 1, max: SHUFFLE_LIMIT }).chain((size) =>
    fc.tuple(fc.constant(size), rngSeed)
  );
  fc.assert(
    fc.property(sized, ([size, seed]) => {
      // The reference: one swap per guess, j = i + (32 random bits) % (values left).
      const offsets = Array.from({ length: size }, (_, i) => i);
      const rng = new Rng(seed).fork();
      const expected = offsets.map((_, i) => {
        const j = i + rng.nextUint32() % (size - i);
        [offsets[i], offsets[j]] = [offsets[j], offsets[i]];
        return 1 + offsets[i];
      });
      assert.deepEqual(draw(new ShuffleStrategy(1, size, new Rng(seed)), size), expected);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("createStrategy('random') shuffles ranges under SHUFFLE_LIMIT and permutes larger ones", () => {
  const rng = new Rng(5);
  assert.ok(createStrategy("random", 1, SHUFFLE_LIMIT, rng) instanceof ShuffleStrategy);
  assert.ok(createStrategy("random", 0, SHUFFLE_LIMIT, rng) instanceof RandomStrategy);
  assert.throws(() => new ShuffleStrategy(0, SHUFFLE_LIMIT, rng), RangeError);
});

Deno.test("ShuffleStrategy() draws the first guess of 1..5 uniformly (chi-squared, 20,000 seeds)", () => {
  const counts = [0, 0, 0, 0, 0];
  const games = 20_000;
  for (let seed = 0; seed < games; seed++) {
    counts[new ShuffleStrategy(1, 5, new Rng(seed)).next() - 1]++;
  }
  const expected = games / 5;
  const chi2 = counts.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
  // 4 degrees of freedom: P(chi2 > 18.47) = 0.001. Fixed seeds, so this never flakes.
  assert.ok(chi2 < 18.47, `counts ${counts} give chi-squared ${chi2.toFixed(1)}`);
});

Deno.test("RandomStrategy() is a bijection on ranges of size 2^k - 1, 2^k and 2^k + 1", () => {
  const sizes = [...Array(13).keys()].flatMap((k) => [2 ** k - 1, 2 ** k, 2 ** k + 1])
    .filter((size, i, all) => size > 0 && all.indexOf(size) === i);
  const cases = fc.constantFrom(...sizes).chain((size) =>
    fc.tuple(fc.constant(size), lowerFor(size), rngSeed)
  );
  fc.assert(
    fc.property(cases, ([size, lower, seed]) => {
      assertPermutation(new RandomStrategy(lower, lower + size - 1, new Rng(seed)), lower, size);
    }),
    { seed: SEED, numRuns: 120, examples: sizes.map((size) => [[size, 0, size]]) },
  );
});

Deno.test("RandomStrategy() never repeats nor leaves a large range, and replays by seed", () => {
  const range = fc.tuple(safeInteger, safeInteger).map(([a, b]) => a <= b ? [a, b] : [b, a]);
  fc.assert(
    fc.property(range, rngSeed, ([lower, upper], seed) => {
      const count = Number(upper - lower + 1n < 200n ? upper - lower + 1n : 200n);
      const values = draw(new RandomStrategy(Number(lower), Number(upper), new Rng(seed)), count);
      for (const value of values) {
        assert.ok(Number.isSafeInteger(value), `${value} is not a safe integer`);
        assert.ok(BigInt(value) >= lower && BigInt(value) <= upper, `${value} out of range`);
      }
      assert.equal(new Set(values).size, count, "a value repeated");
      const again = draw(new RandomStrategy(Number(lower), Number(upper), new Rng(seed)), count);
      assert.deepEqual(again, values);
    }),
    {
      seed: SEED,
      numRuns: 300,
      examples: [[[MIN, MAX], 0], [[MIN, MIN + 1n], 1], [[MAX - 1n, MAX], 2], [[MIN, 0n], 3]],
    },
  );
});

Deno.test("RandomStrategy() reaches odd and even values past lower + 2^53 in the widest ranges", () => {
  // Offsets past 2^53 are not all doubles: computing lower + offset in the wrong
  // order would round them to even and never guess half of the range.
  const wide = fc.tuple(fc.bigInt(MIN, MIN + 2n ** 50n), fc.bigInt(MAX - 2n ** 50n, MAX));
  fc.assert(
    fc.property(wide, rngSeed, ([lower, upper], seed) => {
      const values = draw(new RandomStrategy(Number(lower), Number(upper), new Rng(seed)), 200);
      const far = values.map((value) => BigInt(value) - lower).filter((o) => o > 2n ** 53n);
      assert.ok(far.some((offset) => offset % 2n === 0n), "no even offset past 2^53");
      assert.ok(far.some((offset) => offset % 2n === 1n), "no odd offset past 2^53");
    }),
    { seed: SEED, numRuns: 50, examples: [[[MIN, MAX], 0]] },
  );
});

// -------------------------------------------------------------------- judge

/** The rules, directly: d = |guess - secret| in bigint. */
function referenceDecisions(secret: bigint, guesses: bigint[]): string[] {
  let previous: bigint | undefined;
  return guesses.map((guess) => {
    const d = guess > secret ? guess - secret : secret - guess;
    const decision = d === 0n
      ? "Correct"
      : previous === undefined || d === previous
      ? "Unsure"
      : d < previous
      ? "Warmer"
      : "Colder";
    previous = d;
    return decision;
  });
}

function clamp(n: bigint): bigint {
  return n < MIN ? MIN : n > MAX ? MAX : n;
}

Deno.test("judge() agrees with a bigint reimplementation of the rules over the safe range", () => {
  const game = safeInteger.chain((secret) =>
    fc.tuple(
      fc.constant(secret),
      fc.array(
        fc.oneof(safeInteger, fc.bigInt(-3n, 3n).map((d) => clamp(secret + d))),
        { minLength: 1, maxLength: 30 },
      ),
    )
  );
  fc.assert(
    fc.property(game, ([secret, guesses]) => {
      let previous: bigint | undefined;
      const decisions = guesses.map((guess) => {
        const verdict = judge(Number(secret), Number(guess), previous);
        previous = verdict.distance;
        return verdict.decision;
      });
      assert.deepEqual(decisions, referenceDecisions(secret, guesses));
    }),
    {
      seed: SEED,
      numRuns: 500,
      // Float distances from MIN to MAX and MAX - 1 round to the same number.
      examples: [[[MIN, [MAX, MAX - 1n, MAX - 2n, MAX - 2n, MAX, MIN + 1n, MIN]]], [[
        MAX,
        [MIN, MIN + 1n, MIN, 0n, MAX],
      ]]],
    },
  );
});

// ------------------------------------------------------------ wire formats

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    type: fc.constant("params" as const),
    lower: safeInteger.map(Number),
    upper: safeInteger.map(Number),
  }, { noNullPrototype: true }),
  fc.constant({ type: "number" as const }),
  fc.record({ type: fc.constant("report" as const), decision: fc.constantFrom(...DECISIONS) }, {
    noNullPrototype: true,
  }),
);

Deno.test("parseCommand() reads back what formatCommand() wrote", () => {
  fc.assert(
    fc.property(command, (command) => {
      const text = formatCommand(command);
      assert.match(text, /^[A-Za-z0-9 -]+\n$/);
      assert.deepEqual(parseCommand(text.slice(0, -1)), command);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

Deno.test("parseCommand() and parseReply() read any decimal text exactly or reject it", () => {
  const digits = fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 20 });
  const text = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom("", "-"), digits).map(([s, d]) => s + d) },
    { weight: 2, arbitrary: safeInteger.map((n) => `${n}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("", "-", "+1", "1.0", "1e3", " 1", "0x10", "--1", "\u0661", "1\r"),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  );
  fc.assert(
    fc.property(text, text, (a, b) => {
      const exact = (s: string): number | undefined => {
        if (!/^-?[0-9]+$/.test(s) || !isSafe(BigInt(s))) return undefined;
        return Number(BigInt(s)); // never -0
      };
      const lower = exact(a), upper = exact(b);
      if (lower === undefined || upper === undefined) {
        assert.throws(() => parseCommand(`PARAMS ${a} ${b}`), ProtocolError);
      } else {
        assert.deepEqual(parseCommand(`PARAMS ${a} ${b}`), { type: "params", lower, upper });
      }
      if (lower === undefined) assert.throws(() => parseReply(a), ProtocolError);
      else assert.deepEqual(parseReply(a), { type: "number", value: lower });
    }),
    { seed: SEED, numRuns: 500, examples: [["-0", "-000"], ["9007199254740992", "0"]] },
  );
});

// deno-lint-ignore no-control-regex -- control characters are what a reply must not carry
const CONTROL = /[\x00-\x1f\x7f]/;

const message = fc.oneof(
  fc.string({ unit: "grapheme-ascii", maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: fc.constantFrom("a", " ", "\r", "\n", "\x00", "\x7f", "é"), maxLength: 20 }),
);
const reply: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({ type: fc.constant("number" as const), value: safeInteger.map(Number) }, {
    noNullPrototype: true,
  }),
  fc.record({ type: fc.constant("error" as const), message }, { noNullPrototype: true }),
);

Deno.test("parseReply() reads back what formatReply() wrote, control characters as spaces", () => {
  fc.assert(
    fc.property(reply, (reply) => {
      const text = formatReply(reply);
      assert.ok(text.endsWith("\n"));
      assert.equal(text.indexOf("\n"), text.length - 1, "a reply is more than one line");
      assert.doesNotMatch(text.slice(0, -1), CONTROL);
      const expected: Reply = reply.type === "error"
        ? {
          type: "error",
          message: [...reply.message].map((c) => CONTROL.test(c) ? " " : c).join(""),
        }
        : reply;
      assert.deepEqual(parseReply(text.slice(0, -1)), expected);
    }),
    { seed: SEED, numRuns: 500 },
  );
});
