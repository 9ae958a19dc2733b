/**
 * `play --human`: the dialogue in process (answers from a byte stream, output
 * collected), and the CLI as a real subprocess with answers piped to stdin,
 * answered line by line as a person would, interrupted with SIGINT.
 */

import assert from "node:assert/strict";
import { BisectStrategy } from "../bisect.ts";
import { HUMAN_HELP, type HumanOptions, parseAnswer, playHuman } from "../cli/human.ts";
import { openInProcess } from "../cli/demo.ts";
import { type Decision, judge, ProtocolError } from "../protocol.ts";
import { DEFAULT_TIMEOUT, MAIN_PATH, readStreamUntil, withTimeout } from "./helpers.ts";

const encoder = new TextEncoder();
const LETTER: Record<Decision, string> = { Warmer: "w", Colder: "c", Unsure: "u", Correct: "y" };

/** The bisect game for `secret`: each guess with the count still possible and the judge's decision. */
function bisectGame(lower: number, upper: number, secret: number) {
  const strategy = new BisectStrategy(lower, upper);
  const turns: { guess: number; possible: bigint; decision: Decision }[] = [];
  let previous: bigint | undefined;
  for (;;) {
    const guess = strategy.next();
    const { decision, distance } = judge(secret, guess, previous);
    previous = distance;
    turns.push({ guess, possible: strategy.candidates(), decision });
    strategy.report(guess, decision);
    if (decision === "Correct") return turns;
  }
}

/** The exact output of a won game, as `playHuman` prints it. */
function transcript(lower: number, upper: number, turns: ReturnType<typeof bisectGame>): string[] {
  const lines = [
    `Think of a whole number from ${lower} to ${upper} and keep it to yourself: I will guess it.`,
    "After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); ? for help.",
  ];
  turns.forEach(({ guess, possible }, i) => {
    lines.push(`Guess ${i + 1}, ${possible} number${possible === 1n ? "" : "s"} still possible`);
    lines.push(`My guess: ${guess}`);
  });
  const last = turns.at(-1)!;
  lines.push(`Got it: ${last.guess}, in ${turns.length} guess${turns.length === 1 ? "" : "es"}`);
  return lines;
}

function input(text: string): ReadableStream<Uint8Array> {
  return ReadableStream.from([encoder.encode(text)]);
}

async function human(options: Partial<HumanOptions> & { input: ReadableStream<Uint8Array> }) {
  await using table = openInProcess({ strategy: "bisect" });
  const lines: string[] = [];
  const result = await playHuman(table, {
    lower: 1,
    upper: 100,
    print: (line) => lines.push(line),
    ...options,
  });
  return { result, lines };
}

Deno.test("parseAnswer() takes letters and whole words in any case, ? for help", () => {
  const cases: [string, ReturnType<typeof parseAnswer>][] = [
    ["w", { type: "decision", decision: "Warmer" }],
    ["WARMER", { type: "decision", decision: "Warmer" }],
    ["  Colder\t", { type: "decision", decision: "Colder" }],
    ["c", { type: "decision", decision: "Colder" }],
    ["u", { type: "decision", decision: "Unsure" }],
    ["Unsure", { type: "decision", decision: "Unsure" }],
    ["y", { type: "decision", decision: "Correct" }],
    ["Yes", { type: "decision", decision: "Correct" }],
    ["correct", { type: "decision", decision: "Correct" }],
    ["?", { type: "help" }],
    ["help", { type: "help" }],
    ["", { type: "empty" }],
    ["   ", { type: "empty" }],
    ["warm", { type: "unknown", text: "warm" }],
    ["toString", { type: "unknown", text: "toString" }],
    ["w c", { type: "unknown", text: "w c" }],
  ];
  for (const [line, answer] of cases) assert.deepEqual(parseAnswer(line), answer, line);
});

Deno.test("playHuman() plays a person's game to Correct with bisect, printing each guess and the numbers still possible", async () => {
  for (const secret of [1, 42, 50, 99, 100]) {
    const turns = bisectGame(1, 100, secret);
    const answers = turns.map(({ decision }) => LETTER[decision]).join("\n") + "\n";
    const { result, lines } = await human({ input: input(answers) });
    assert.deepEqual(result, { type: "won", secret, guesses: turns.length });
    assert.deepEqual(lines, transcript(1, 100, turns));
    assert.ok(turns.length <= 9);
  }
});

Deno.test("playHuman() reads answers split across chunks and ended by \\r\\n, the last one without a newline", async () => {
  const turns = bisectGame(-7, 7, 6);
  const text = turns.map(({ decision }) => decision.toUpperCase()).join("\r\n");
  const bytes = encoder.encode(text);
  const chunks = ReadableStream.from(Array.from(bytes, (byte) => new Uint8Array([byte])));
  const { result, lines } = await human({ lower: -7, upper: 7, input: chunks });
  assert.deepEqual(result, { type: "won", secret: 6, guesses: turns.length });
  assert.deepEqual(lines, transcript(-7, 7, turns));
});

Deno.test("playHuman() explains help, unknown answers and Warmer for a first guess, then reads again", async () => {
  const { result, lines } = await human({ input: input("w\n?\n\nmaybe\nu\ny\n") });
  assert.deepEqual(result, { type: "won", secret: 50, guesses: 2 });
  assert.deepEqual(lines.slice(2), [
    "Guess 1, 100 numbers still possible",
    "My guess: 1",
    "That is my first guess, there is nothing to compare it with: answer u, or y",
    HUMAN_HELP,
    'Please answer w, c, u or y (? for help), not "maybe"',
    "Guess 2, 99 numbers still possible",
    "My guess: 50",
    "Got it: 50, in 2 guesses",
  ]);
});

Deno.test("playHuman() shows the prompt before each read when given one", async () => {
  const prompts: string[] = [];
  const { result } = await human({
    input: input("x\nu\ny\n"),
    prompt: (text) => prompts.push(text),
  });
  assert.equal(result.type, "won");
  assert.deepEqual(prompts, Array(3).fill("Warmer, colder, unsure or yes? [w/c/u/y, ? for help] "));
});

Deno.test("playHuman() abandons the game at the end of input", async () => {
  const { result, lines } = await human({ input: input("u\n") });
  assert.deepEqual(result, { type: "abandoned", interrupted: false, guesses: 2 });
  assert.equal(lines.at(-1), "No more answers: game abandoned after 2 guesses");
});

Deno.test("playHuman() stops waiting for an answer when its signal aborts", async () => {
  await using table = openInProcess({ strategy: "bisect" });
  const controller = new AbortController();
  const lines: string[] = [];
  const result = await playHuman(table, {
    lower: 1,
    upper: 100,
    input: new ReadableStream<Uint8Array>(), // a person who never answers
    signal: controller.signal,
    print(line) {
      lines.push(line);
      if (line.startsWith("My guess: ")) controller.abort();
    },
  });
  assert.deepEqual(result, { type: "abandoned", interrupted: true, guesses: 1 });
  assert.equal(lines.at(-1), "Interrupted: game abandoned after 1 guess");
});

Deno.test("playHuman() says the answers contradict each other with the bisect server's ERROR", async () => {
  // The right answers for 10, except Warmer instead of yes for the last guess, 10 itself.
  const turns = bisectGame(1, 10, 10);
  const answers = [...turns.slice(0, -1).map(({ decision }) => LETTER[decision]), "w"];
  const { result, lines } = await human({ lower: 1, upper: 10, input: input(answers.join("\n")) });
  const last = turns.at(-1)!.guess, before = turns.at(-2)!.guess;
  const message =
    `Inconsistent reports: no secret in [1, 10] fits Warmer for ${last} after ${before}` +
    " and the reports before";
  assert.deepEqual(result, { type: "contradiction", message, guesses: turns.length });
  assert.equal(lines.at(-1), `Your answers contradict each other: ${message}`);
});

Deno.test("playHuman() says the answers contradict each other when a random server does not notice", async () => {
  await using table = openInProcess({ strategy: "random", seed: 1 });
  const lines: string[] = [];
  // Never yes: once the three numbers are guessed (or sooner) no number fits the answers,
  // and the random server only says its range is exhausted.
  const result = await playHuman(table, {
    lower: 1,
    upper: 3,
    input: input("u\nw\nc\nw\nc\n"),
    print: (line) => lines.push(line),
  });
  assert.equal(result.type, "contradiction");
  assert.equal(
    lines.at(-1),
    "Your answers contradict each other: no number from 1 to 3 fits all your answers",
  );
});

Deno.test("playHuman() says yes to a guess the earlier answers ruled out is a contradiction", async () => {
  // Over 1..20 bisect guesses 1, 10, 16, then 2: after Warmer for 10 and Colder for 16 the
  // number is in 6..12, so 2 (a reflection, outside the candidates) cannot be it.
  const { result, lines } = await human({ lower: 1, upper: 20, input: input("u\nw\nc\ny\n") });
  const guesses = lines.filter((line) => line.startsWith("My guess: "));
  assert.deepEqual(guesses, ["My guess: 1", "My guess: 10", "My guess: 16", "My guess: 2"]);
  const message = "2 does not fit your earlier answers";
  assert.deepEqual(result, { type: "contradiction", message, guesses: 4 });
  assert.equal(lines.at(-1), `Your answers contradict each other: ${message}`);
});

Deno.test("playHuman() fails with a ProtocolError on an answer line over 1024 bytes", async () => {
  await assert.rejects(
    human({ input: input("x".repeat(2000) + "\n") }),
    (error: unknown) =>
      error instanceof ProtocolError && /^Cannot read the answer: /.test(error.message),
  );
});

// ------------------------------------------------------------ subprocesses

/** `deno run main.ts play ...` with stdin piped and no permission flags. */
function spawnPlay(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", MAIN_PATH, "play", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(DEFAULT_TIMEOUT),
  }).spawn();
}

async function runPlay(args: string[], stdin: string) {
  const child = spawnPlay(args);
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("play --human --strategy bisect, answers piped, prints the My guess: lines and exits 0", async () => {
  const turns = bisectGame(1, 100, 37);
  const answers = turns.map(({ decision }) => decision).join("\n") + "\n";
  const { code, stdout, stderr } = await runPlay(["--human", "--strategy", "bisect"], answers);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.equal(stdout, transcript(1, 100, turns).join("\n") + "\n");
  const guesses = stdout.split("\n").filter((line) => line.startsWith("My guess: "));
  assert.deepEqual(guesses, turns.map(({ guess }) => `My guess: ${guess}`));
});

Deno.test("play --human --range takes negative bounds; the end of input abandons with exit 0", async () => {
  const { code, stdout, stderr } = await runPlay(
    ["--human", "--strategy", "bisect", "--range", "-1000,-900"],
    "u\n",
  );
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.deepEqual(stdout.split("\n").slice(2), [
    "Guess 1, 101 numbers still possible",
    "My guess: -1000",
    "Guess 2, 100 numbers still possible",
    "My guess: -950",
    "No more answers: game abandoned after 2 guesses",
    "",
  ]);
});

Deno.test("play --human with contradicting answers says so and exits 1", async () => {
  const turns = bisectGame(1, 10, 10);
  const answers = [...turns.slice(0, -1).map(({ decision }) => LETTER[decision]), "w", ""];
  const { code, stdout } = await runPlay(
    ["--human", "--strategy", "bisect", "--range", "1,10"],
    answers.join("\n"),
  );
  assert.equal(code, 1);
  assert.match(
    stdout.split("\n").at(-2)!,
    /^Your answers contradict each other: Inconsistent reports: no secret in \[1, 10\] fits Warmer for /,
  );
});

Deno.test("play --human answered line by line like a person, against the random strategy", async () => {
  await using child = spawnPlay(["--human", "--range", "1,20"]);
  const stderr = new Response(child.stderr).text();
  const secret = 13;
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  let text = "";
  let previous: bigint | undefined;
  for (let turn = 1; turn <= 20; turn++) {
    const guessLines = (all: string) => [...all.matchAll(/My guess: (-?\d+)\n/g)];
    text += await readStreamUntil(reader, (more) => guessLines(text + more).length >= turn);
    const guess = Number(guessLines(text)[turn - 1][1]);
    const { decision, distance } = judge(secret, guess, previous);
    previous = distance;
    await writer.write(encoder.encode(`${decision.toLowerCase()}\n`));
    if (decision === "Correct") break;
  }
  await writer.close();
  text += await readStreamUntil(reader, () => false);
  const status = await withTimeout(child.status, DEFAULT_TIMEOUT, "play --human to exit");
  assert.equal(status.code, 0);
  assert.equal(await stderr, "");
  assert.match(text, /\nGot it: 13, in \d+ guess(es)?\n$/);
});

Deno.test("play --human exits 130 on SIGINT while waiting for an answer", async () => {
  await using child = spawnPlay(["--human", "--strategy", "bisect"]);
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const text = await readStreamUntil(reader, (more) => more.includes("My guess: 1\n"));
  child.kill("SIGINT");
  const rest = await readStreamUntil(reader, () => false);
  const status = await withTimeout(child.status, DEFAULT_TIMEOUT, "play --human to exit");
  assert.equal(status.code, 130);
  assert.equal(await stderr, "");
  assert.equal(
    text + rest,
    [
      "Think of a whole number from 1 to 100 and keep it to yourself: I will guess it.",
      "After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); ? for help.",
      "Guess 1, 100 numbers still possible",
      "My guess: 1",
      "Interrupted: game abandoned after 1 guess",
      "",
    ].join("\n"),
  );
  await child.stdin.close();
});
