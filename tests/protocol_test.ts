import assert from "node:assert/strict";
import {
  type Command,
  type Decision,
  DECISIONS,
  excerpt,
  formatCommand,
  formatReply,
  type GameEvent,
  judge,
  parseCommand,
  parseInteger,
  parseReply,
  ProtocolError,
  type Reply,
  ServerConnection,
  Session,
} from "../protocol.ts";
import { Rng } from "../strategy.ts";
import { decode, encode, playSeedDemo } from "./helpers.ts";

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;
const NO_GAME = "No game in progress: send PARAMS lower upper first";
const NO_GUESS = "No guess to judge: send NUMBER first";
const UNKNOWN = ": expected PARAMS, NUMBER or REPORT";
const DECISION = ": expected Warmer, Colder, Unsure or Correct";
const SAFE = "[-9007199254740991, 9007199254740991]";

// ---------------------------------------------------------------- commands

const VALID: [string, Command][] = [
  ["PARAMS 1 5", { type: "params", lower: 1, upper: 5 }],
  ["PARAMS 10 15", { type: "params", lower: 10, upper: 15 }],
  ["PARAMS 0 -1", { type: "params", lower: 0, upper: -1 }],
  ["PARAMS -7 -3", { type: "params", lower: -7, upper: -3 }],
  [`PARAMS ${MIN} ${MAX}`, { type: "params", lower: MIN, upper: MAX }],
  [`PARAMS ${MAX} ${MAX}`, { type: "params", lower: MAX, upper: MAX }],
  ["NUMBER", { type: "number" }],
  ["REPORT Warmer", { type: "report", decision: "Warmer" }],
  ["REPORT Colder", { type: "report", decision: "Colder" }],
  ["REPORT Unsure", { type: "report", decision: "Unsure" }],
  ["REPORT Correct", { type: "report", decision: "Correct" }],
];

for (const [line, command] of VALID) {
  Deno.test(`parseCommand() and formatCommand() round-trip ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseCommand(line), command);
    assert.equal(formatCommand(command), line + "\n");
    assert.deepEqual(parseCommand(formatCommand(command).slice(0, -1)), command);
  });
}

Deno.test("parseCommand() reads leading zeros and -0 as plain integers", () => {
  assert.deepEqual(parseCommand("PARAMS 01 007"), { type: "params", lower: 1, upper: 7 });
  const command = parseCommand("PARAMS -0 0");
  assert.ok(command.type === "params" && Object.is(command.lower, 0), "no -0");
});

const MALFORMED: [string, string][] = [
  ["HELLO", `Unknown command "HELLO"${UNKNOWN}`],
  ["", `Empty line${UNKNOWN}`],
  ["number", `Unknown command "number"${UNKNOWN}`],
  ["Number", `Unknown command "Number"${UNKNOWN}`],
  [" NUMBER", `Unknown command ""${UNKNOWN}`],
  ["\tNUMBER", `Unknown command "\\tNUMBER"${UNKNOWN}`],
  ["NUMBER\r", `Unknown command "NUMBER\\r"${UNKNOWN}`],
  ["NUM\x00BER", `Unknown command "NUM\\u0000BER"${UNKNOWN}`],
  ["ERROR x", `Unknown command "ERROR"${UNKNOWN}`],
  ["x".repeat(40), `Unknown command "${"x".repeat(24)}"...${UNKNOWN}`],
  ["PARAMS", "PARAMS takes 2 arguments (PARAMS lower upper), got 0"],
  ["PARAMS 1", "PARAMS takes 2 arguments (PARAMS lower upper), got 1"],
  ["PARAMS 1 2 3", "PARAMS takes 2 arguments (PARAMS lower upper), got 3"],
  ["PARAMS  1 2", "PARAMS takes 2 arguments (PARAMS lower upper), got 3"],
  ["PARAMS 1  2", "PARAMS takes 2 arguments (PARAMS lower upper), got 3"],
  ["PARAMS 1 2 ", "PARAMS takes 2 arguments (PARAMS lower upper), got 3"],
  ["PARAMS 1  5", "PARAMS takes 2 arguments (PARAMS lower upper), got 3"],
  ["NUMBER ", "NUMBER takes 0 arguments (NUMBER), got 1"],
  ["NUMBER 1", "NUMBER takes 0 arguments (NUMBER), got 1"],
  ["REPORT", "REPORT takes 1 argument (REPORT decision), got 0"],
  ["REPORT  Warmer", "REPORT takes 1 argument (REPORT decision), got 2"],
  ["REPORT Warmer Colder", "REPORT takes 1 argument (REPORT decision), got 2"],
  ["PARAMS 1.5 2", 'Lower bound is not a decimal integer: "1.5"'],
  ["PARAMS +3 5", 'Lower bound is not a decimal integer: "+3"'],
  ["PARAMS 1 0x10", 'Upper bound is not a decimal integer: "0x10"'],
  ["PARAMS 1 1e3", 'Upper bound is not a decimal integer: "1e3"'],
  ["PARAMS - 1", 'Lower bound is not a decimal integer: "-"'],
  ["PARAMS --1 1", 'Lower bound is not a decimal integer: "--1"'],
  ["PARAMS 1 \u0665", 'Upper bound is not a decimal integer: "\\u{665}"'],
  ["PARAMS 1 Infinity", 'Upper bound is not a decimal integer: "Infinity"'],
  [
    "PARAMS 99999999999999999999 1",
    `Lower bound is outside ${SAFE}: "99999999999999999999"`,
  ],
  [`PARAMS 0 ${MAX + 1}`, `Upper bound is outside ${SAFE}: "9007199254740992"`],
  [`PARAMS ${MIN - 1} 0`, `Lower bound is outside ${SAFE}: "-9007199254740992"`],
  ["REPORT warmer", `Unknown decision "warmer"${DECISION}`],
  ["REPORT Hot", `Unknown decision "Hot"${DECISION}`],
  ["REPORT Correct\x00", `Unknown decision "Correct\\u0000"${DECISION}`],
  ["REPORT ", `Unknown decision ""${DECISION}`],
];

for (const [line, message] of MALFORMED) {
  Deno.test(`parseCommand() rejects ${JSON.stringify(line)} with its exact message`, () => {
    assert.throws(() => parseCommand(line), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.equal(error.name, "ProtocolError");
      assert.equal(error.message, message);
      assert.match(error.message, /^[A-Z]/);
      assert.doesNotMatch(error.message, /[\r\n]|\.$/);
      return true;
    });
  });
}

Deno.test("parseInteger() accepts exactly the safe integers in strict decimal", () => {
  assert.equal(parseInteger("-12", "Bound"), -12);
  assert.equal(parseInteger(String(MAX), "Bound"), MAX);
  assert.equal(parseInteger(String(MIN), "Bound"), MIN);
  assert.ok(Object.is(parseInteger("-0", "Bound"), 0));
  assert.throws(() => parseInteger("1_000", "Bound"), {
    name: "ProtocolError",
    message: 'Bound is not a decimal integer: "1_000"',
  });
});

Deno.test("formatCommand() refuses bounds that are not safe integers and unknown decisions", () => {
  for (const bad of [1.5, NaN, Infinity, MAX + 1]) {
    assert.throws(() => formatCommand({ type: "params", lower: bad, upper: 1 }), RangeError);
    assert.throws(() => formatCommand({ type: "params", lower: 1, upper: bad }), RangeError);
  }
  const report = { type: "report", decision: "Hot" } as unknown as Command;
  assert.throws(() => formatCommand(report), {
    name: "RangeError",
    message: 'Unknown decision "Hot"',
  });
});

// ----------------------------------------------------------------- replies

const REPLIES: [string, Reply][] = [
  ["4", { type: "number", value: 4 }],
  ["-3", { type: "number", value: -3 }],
  [String(MAX), { type: "number", value: MAX }],
  [String(MIN), { type: "number", value: MIN }],
  ["ERROR No game in progress", { type: "error", message: "No game in progress" }],
  ["ERROR ", { type: "error", message: "" }],
];

for (const [line, reply] of REPLIES) {
  Deno.test(`parseReply() and formatReply() round-trip ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseReply(line), reply);
    assert.equal(formatReply(reply), line + "\n");
  });
}

Deno.test("parseReply() rejects what is neither an integer nor ERROR", () => {
  for (
    const line of ["abc", "1.5", "", "4 ", " 4", "ERROR", "error x", "+4", "99999999999999999999"]
  ) {
    assert.throws(() => parseReply(line), ProtocolError, JSON.stringify(line));
  }
  assert.throws(() => parseReply("abc"), { message: 'Reply is not a decimal integer: "abc"' });
});

Deno.test("formatReply() turns control characters of an error message into spaces", () => {
  assert.equal(
    formatReply({ type: "error", message: "a\r\nb\x00c\x1fd\x7fe\tf" }),
    "ERROR a  b c d e f\n",
  );
});

Deno.test("formatReply() never produces CR or LF from any character of a message", () => {
  let message = "";
  for (let code = 0; code < 0x3000; code++) message += String.fromCharCode(code);
  const line = formatReply({ type: "error", message });
  assert.equal(line.indexOf("\n"), line.length - 1, "one LF, at the end");
  assert.equal(line.indexOf("\r"), -1);
  assert.equal(line.length, "ERROR ".length + message.length + 1);
});

// ----------------------------------------------------------------- excerpt

Deno.test("excerpt() quotes and escapes untrusted text", () => {
  const cases: [string, string][] = [
    ["NUMBER", '"NUMBER"'],
    ["", '""'],
    ["A\r\nB", '"A\\r\\nB"'],
    ['say "hi"\\', '"say \\"hi\\"\\\\"'],
    ["\x00\x1b\x7f", '"\\u0000\\u001b\\u{7f}"'],
    ["é", '"\\u{e9}"'],
    ["\u2028", '"\\u{2028}"'],
    ["😀", '"\\u{1f600}"'],
    ["\ud800", '"\\ud800"'],
    ["x".repeat(24), `"${"x".repeat(24)}"`],
    ["x".repeat(25), `"${"x".repeat(24)}"...`],
  ];
  for (const [text, quoted] of cases) assert.equal(excerpt(text), quoted, JSON.stringify(text));
  assert.equal(excerpt("abcdef", 3), '"abc"...');
});

Deno.test("excerpt() output is printable ASCII for every UTF-16 code unit", () => {
  for (let start = 0; start < 0x10000; start += 256) {
    let text = "";
    for (let code = start; code < start + 256; code++) text += String.fromCharCode(code);
    assert.match(excerpt(text, 256), /^[\x20-\x7e]*$/, `from ${start}`);
  }
});

// ------------------------------------------------------------------- judge

/** Plays the client's side: the decisions for a list of guesses. */
function decisionsOf(secret: number, guesses: number[]): Decision[] {
  let previous: bigint | undefined;
  return guesses.map((guess) => {
    const verdict = judge(secret, guess, previous);
    previous = verdict.distance;
    return verdict.decision;
  });
}

Deno.test("judge() follows the rules table", () => {
  const table: [number, number, bigint | undefined, Decision, bigint][] = [
    // secret, guess, previous distance, decision, distance
    [3, 4, undefined, "Unsure", 1n], // the first guess of a game
    [3, 3, undefined, "Correct", 0n], // a correct first guess
    [3, 3, 2n, "Correct", 0n],
    [3, 2, 2n, "Warmer", 1n],
    [3, 5, 1n, "Colder", 2n],
    [3, 5, 2n, "Unsure", 2n], // equal distance, other side
    [3, 1, 2n, "Unsure", 2n], // equal distance
    [-5, -10, undefined, "Unsure", 5n],
    [-5, 0, 5n, "Unsure", 5n],
    [-5, -4, 5n, "Warmer", 1n],
    [-5, 4, 1n, "Colder", 9n],
    [0, MAX, undefined, "Unsure", BigInt(MAX)],
    [MIN, MAX, undefined, "Unsure", 2n * BigInt(MAX)],
  ];
  for (const [secret, guess, previous, decision, distance] of table) {
    assert.deepEqual(
      judge(secret, guess, previous),
      { decision, distance },
      `secret ${secret}, guess ${guess}, previous ${previous}`,
    );
  }
});

Deno.test("judge() is exact at the safe-integer extremes, where float distances round", () => {
  // In floats, MAX - 2 - MIN and MAX - 1 - MIN both round to 2^54 - 4.
  assert.equal(MAX - 2 - MIN, MAX - 1 - MIN);
  assert.deepEqual(decisionsOf(MIN, [MAX - 2, MAX - 1, MAX, MAX - 1]), [
    "Unsure",
    "Colder",
    "Colder",
    "Warmer",
  ]);
  assert.deepEqual(decisionsOf(MAX, [MIN + 2, MIN + 1, MIN, MAX]), [
    "Unsure",
    "Colder",
    "Colder",
    "Correct",
  ]);
  assert.deepEqual(decisionsOf(MAX, [MIN, MIN + 1]), ["Unsure", "Warmer"]);
  assert.deepEqual(decisionsOf(MIN, [MIN + 1, MIN, MIN]), ["Unsure", "Correct", "Correct"]);
});

Deno.test("judge() reproduces the seed's printed demo decisions", () => {
  assert.deepEqual(decisionsOf(3, [4, 3]), ["Unsure", "Correct"]);
  assert.deepEqual(decisionsOf(12, [14, 11, 10, 15, 13]), [
    "Unsure",
    "Warmer",
    "Colder",
    "Colder",
    "Warmer",
  ]);
});

// ----------------------------------------------------------------- Session

interface Played {
  results: [number, Decision][];
  events: GameEvent[];
}

function demo(seed: number): Played {
  const events: GameEvent[] = [];
  const session = new Session({ rng: new Rng(seed), onEvent: (event) => events.push(event) });
  const results = playSeedDemo(session, [[1, 5, 3], [10, 15, 12]]);
  assert.equal(session.inGame, false);
  return { results, events };
}

Deno.test("Session replays the seed's demo exactly from Rng(1)", () => {
  // A regression pin: `play --seed 1` prints these guesses.
  const { results, events } = demo(1);
  assert.deepEqual(results, [
    [2, "Unsure"],
    [5, "Colder"],
    [3, "Correct"],
    [13, "Unsure"],
    [12, "Correct"],
  ]);
  assert.deepEqual(events, [
    { type: "start", lower: 1, upper: 5 },
    { type: "report", guess: 2, decision: "Unsure" },
    { type: "report", guess: 5, decision: "Colder" },
    { type: "report", guess: 3, decision: "Correct" },
    { type: "end", guesses: 3 },
    { type: "start", lower: 10, upper: 15 },
    { type: "report", guess: 13, decision: "Unsure" },
    { type: "report", guess: 12, decision: "Correct" },
    { type: "end", guesses: 2 },
  ]);
});

Deno.test("Session replays the same demo for the same seed", () => {
  for (const seed of [0, 2, 42, -7, MAX]) assert.deepEqual(demo(seed), demo(seed));
});

Deno.test("Session answers NUMBER and REPORT with no game with an error", () => {
  const session = new Session({ rng: new Rng(1) });
  assert.deepEqual(session.handle({ type: "number" }), { type: "error", message: NO_GAME });
  assert.deepEqual(session.handle({ type: "report", decision: "Warmer" }), {
    type: "error",
    message: NO_GAME,
  });
  assert.equal(session.inGame, false);
});

Deno.test("Session answers REPORT before any NUMBER of the game with an error", () => {
  const session = new Session({ rng: new Rng(1) });
  session.handle({ type: "params", lower: 1, upper: 5 });
  assert.deepEqual(session.handle({ type: "report", decision: "Unsure" }), {
    type: "error",
    message: NO_GUESS,
  });
  // A new game forgets the last guess of the old one.
  session.handle({ type: "number" });
  session.handle({ type: "params", lower: 1, upper: 5 });
  assert.deepEqual(session.handle({ type: "report", decision: "Unsure" }), {
    type: "error",
    message: NO_GUESS,
  });
});

Deno.test("Session keeps answering the secret after Correct", () => {
  const events: GameEvent[] = [];
  const session = new Session({ rng: new Rng(5), onEvent: (event) => events.push(event) });
  session.handle({ type: "params", lower: 1, upper: 100 });
  const first = session.handle({ type: "number" });
  assert.ok(first?.type === "number");
  session.handle({ type: "report", decision: "Correct" });
  for (let i = 0; i < 3; i++) assert.deepEqual(session.handle({ type: "number" }), first);
  session.handle({ type: "params", lower: 0, upper: -1 });
  assert.deepEqual(events.at(-1), { type: "end", guesses: 1 });
});

Deno.test("Session ends a game on PARAMS with lower > upper", () => {
  const events: GameEvent[] = [];
  const session = new Session({ rng: new Rng(1), onEvent: (event) => events.push(event) });
  session.handle({ type: "params", lower: 1, upper: 5 });
  assert.equal(session.inGame, true);
  assert.equal(session.handle({ type: "params", lower: 0, upper: -1 }), undefined);
  assert.equal(session.inGame, false);
  assert.deepEqual(session.handle({ type: "number" }), { type: "error", message: NO_GAME });
  // Ending with no game running is quiet.
  assert.equal(session.handle({ type: "params", lower: 5, upper: 4 }), undefined);
  assert.deepEqual(events, [{ type: "start", lower: 1, upper: 5 }, { type: "end", guesses: 0 }]);
});

Deno.test("Session replaces a running game on a new PARAMS", () => {
  const events: GameEvent[] = [];
  const session = new Session({ rng: new Rng(1), onEvent: (event) => events.push(event) });
  session.handle({ type: "params", lower: 1, upper: 5 });
  session.handle({ type: "number" });
  session.handle({ type: "params", lower: 7, upper: 7 });
  assert.deepEqual(session.handle({ type: "number" }), { type: "number", value: 7 });
  assert.equal(session.handle({ type: "report", decision: "Correct" }), undefined);
  assert.deepEqual(events, [
    { type: "start", lower: 1, upper: 5 },
    { type: "end", guesses: 1 },
    { type: "start", lower: 7, upper: 7 },
    { type: "report", guess: 7, decision: "Correct" },
  ]);
});

Deno.test("Session answers ERROR Range exhausted once every value was guessed", () => {
  const session = new Session({ rng: new Rng(9) });
  session.handle({ type: "params", lower: 1, upper: 3 });
  const values = [1, 2, 3].map(() => {
    const reply = session.handle({ type: "number" });
    assert.ok(reply?.type === "number");
    session.handle({ type: "report", decision: "Colder" });
    return reply.value;
  });
  assert.deepEqual(values.toSorted(), [1, 2, 3]);
  const exhausted = {
    type: "error",
    message: "Range exhausted: every value in [1, 3] was guessed",
  };
  assert.deepEqual(session.handle({ type: "number" }), exhausted);
  assert.deepEqual(session.handle({ type: "number" }), exhausted);
  assert.equal(session.inGame, true);
  // A new game starts afresh.
  session.handle({ type: "params", lower: 1, upper: 3 });
  assert.equal(session.handle({ type: "number" })?.type, "number");
});

Deno.test("Session guesses stay in range at the safe-integer extremes", () => {
  const session = new Session({ rng: new Rng(3) });
  for (const [lower, upper] of [[MIN, MAX], [MAX - 3, MAX], [MIN, MIN + 1], [-10, -8]]) {
    session.handle({ type: "params", lower, upper });
    for (let i = 0; i < Math.min(50, upper - lower + 1); i++) {
      const reply = session.handle({ type: "number" });
      assert.ok(reply?.type === "number");
      assert.ok(Number.isSafeInteger(reply.value) && reply.value >= lower && reply.value <= upper);
    }
  }
});

// -------------------------------------------------------- ServerConnection

const PIPELINE = "PARAMS 1 1\nNUMBER\r\nREPORT Correct\nNUMBER\nHELLO\nPARAMS 0 -1\nNUMBER\n";
const PIPELINE_REPLY = `1\n1\nERROR Unknown command "HELLO"${UNKNOWN}\nERROR ${NO_GAME}\n`;

Deno.test("ServerConnection answers pipelined lines of one chunk in order, concatenated", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  assert.equal(connection.receive(encode(PIPELINE)), PIPELINE_REPLY);
  assert.equal(connection.lines, 7);
  assert.equal(connection.closed, false);
});

Deno.test("ServerConnection gives the same replies fed byte by byte or split anywhere", () => {
  const bytes = encode(PIPELINE);
  const byByte = new ServerConnection({ rng: new Rng(1) });
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += byByte.receive(bytes.subarray(i, i + 1));
  assert.equal(out, PIPELINE_REPLY);
  for (let at = 0; at <= bytes.length; at++) {
    const split = new ServerConnection({ rng: new Rng(1) });
    const joined = split.receive(bytes.subarray(0, at)) + split.receive(bytes.subarray(at));
    assert.equal(joined, PIPELINE_REPLY, `split at ${at}`);
  }
});

Deno.test("ServerConnection answers a line over the limit with ERROR and closes", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  const out = connection.receive(encode("PARAMS 2 2\nNUMBER\n" + "x".repeat(1025)));
  assert.equal(out, "2\nERROR Line too long: the limit is 1024 bytes, closing\n");
  assert.equal(connection.closed, true);
  assert.equal(connection.receive(encode("NUMBER\n")), "");
  assert.equal(connection.end(), "");
});

Deno.test("ServerConnection accepts a line of exactly the limit and keeps going", () => {
  const connection = new ServerConnection({ rng: new Rng(1), maxLineBytes: 16 });
  assert.equal(
    connection.receive(encode("REPORT 123456789\n")),
    'ERROR Unknown decision "123456789"' + DECISION + "\n",
  );
  assert.equal(connection.closed, false);
  assert.equal(connection.receive(encode("x".repeat(16))), "");
  assert.equal(connection.buffered, 16);
  assert.equal(
    connection.receive(encode("x")),
    "ERROR Line too long: the limit is 16 bytes, closing\n",
  );
  assert.equal(connection.closed, true);
  assert.equal(connection.buffered, 0);
});

Deno.test("ServerConnection answers invalid UTF-8 with ERROR and stays open", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  assert.equal(connection.receive(Uint8Array.of(0xff, 0x0a)), "ERROR Line is not valid UTF-8\n");
  assert.equal(connection.closed, false);
  assert.equal(connection.receive(encode("PARAMS 3 3\nNUMBER\n")), "3\n");
});

Deno.test("ServerConnection.end() handles an unterminated last line", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  assert.equal(connection.receive(encode("PARAMS 2 2\nNUMBER\nREPORT Correct\nNUMBER")), "2\n");
  assert.equal(connection.end(), "2\n");
  assert.equal(connection.closed, true);
  assert.equal(connection.end(), "");
  const empty = new ServerConnection({ rng: new Rng(1) });
  assert.equal(empty.end(), "");
});

Deno.test("ServerConnection escapes untrusted bytes in its error replies", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  const out = connection.receive(encode("HE\rLLO\x00\x1b[31m\n"));
  assert.equal(out, `ERROR Unknown command "HE\\rLLO\\u0000\\u001b[31m"${UNKNOWN}\n`);
});

Deno.test("ServerConnection reports game events", () => {
  const events: GameEvent[] = [];
  const connection = new ServerConnection({
    rng: new Rng(1),
    onEvent: (event) => events.push(event),
  });
  connection.receive(encode("PARAMS 6 6\nNUMBER\nREPORT Correct\nPARAMS 0 -1\n"));
  assert.deepEqual(events, [
    { type: "start", lower: 6, upper: 6 },
    { type: "report", guess: 6, decision: "Correct" },
    { type: "end", guesses: 1 },
  ]);
});

Deno.test("parseCommand() throws a ProtocolError named ProtocolError, and DECISIONS are the four wire spellings", () => {
  assert.throws(() => parseCommand("HELLO"), (error: unknown) => {
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.name, "ProtocolError");
    return true;
  });
  assert.deepEqual(DECISIONS, ["Warmer", "Colder", "Unsure", "Correct"]);
});

Deno.test("ServerConnection output decodes as the bytes a client reads", () => {
  // Replies are ASCII: the byte length equals the text length.
  const connection = new ServerConnection({ rng: new Rng(1) });
  const out = connection.receive(encode("PARAMS é 1\n"));
  assert.equal(encode(out).length, out.length);
  assert.equal(decode(encode(out)), 'ERROR Lower bound is not a decimal integer: "\\u{e9}"\n');
});

Deno.test("ServerConnection.feedBytes() returns the bytes feed() spells and counts the ERROR lines", () => {
  const input = encode("PARAMS 1 1\nNUMBER\nHELLO\nREPORT Correct\nNUMBER\nNUMBER 2\n");
  const text = new ServerConnection({ rng: new Rng(1) }).feed(input);
  const bytes = new ServerConnection({ rng: new Rng(1) }).feedBytes(input);
  assert.equal(decode(bytes.output), text.output);
  assert.match(text.output, /^1\nERROR Unknown command "HELLO"[^\n]*\n1\nERROR NUMBER takes 0/);
  assert.equal(bytes.errors, 2);
  assert.deepEqual([bytes.lines, bytes.more, bytes.close], [text.lines, text.more, text.close]);
});

Deno.test("ServerConnection.feedBytes() reads only the first length bytes of its chunk", () => {
  const connection = new ServerConnection({ rng: new Rng(1) });
  // A reused read buffer: what follows the length is stale.
  const buffer = encode("PARAMS 5 5\nNUMBER\nNUMBER\n");
  const first = connection.feedBytes(buffer, 15);
  assert.equal(decode(first.output), "");
  assert.equal(first.lines, 1);
  buffer.set(encode("ER\n"));
  const second = connection.feedBytes(buffer, 3);
  assert.equal(decode(second.output), "5\n");
  assert.equal(second.lines, 1);
});
