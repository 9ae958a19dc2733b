/**
 * `play --human`: the dialogue in process (answers from a byte stream, output
 * collected), and the CLI as a real subprocess with answers piped to stdin,
 * answered line by line as a person would, interrupted with SIGINT.
 */

import assert from "node:assert/strict";
import { BisectStrategy } from "../bisect.ts";
import {
  conflicts,
  HUMAN_HELP,
  type HumanOptions,
  parseAnswer,
  playGuess,
  playHuman,
} from "../cli/human.ts";
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
    "After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); z to undo, ? for help.",
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
    'Please answer w, c, u or y (z to undo, ? for help), not "maybe"',
    "Guess 2, 99 numbers still possible",
    "My guess: 50",
    "Got it: 50, in 2 guesses",
  ]);
});

Deno.test("playHuman() prompts with the previous guess to compare against", async () => {
  const prompts: string[] = [];
  const { result } = await human({
    input: input("x\nu\nw\ny\n"),
    prompt: (text) => prompts.push(text),
  });
  assert.equal(result.type, "won");
  assert.deepEqual(prompts, [
    "Is it 1? (y, or u to go on; ? for help) ",
    "Is it 1? (y, or u to go on; ? for help) ",
    "Is 50 warmer or colder than 1? (w/c/u/y, z to undo) ",
    "Is 76 warmer or colder than 50? (w/c/u/y, z to undo) ",
  ]);
});

Deno.test("parseAnswer() ignores arrow keys and other escape sequences; z and undo undo", () => {
  assert.deepEqual(parseAnswer("w\x1b[D"), { type: "decision", decision: "Warmer" });
  assert.deepEqual(parseAnswer("\x1b[A\x1b[Bc"), { type: "decision", decision: "Colder" });
  assert.deepEqual(parseAnswer("\x1bOD y"), { type: "decision", decision: "Correct" });
  assert.deepEqual(parseAnswer("z"), { type: "undo" });
  assert.deepEqual(parseAnswer("UNDO"), { type: "undo" });
  assert.deepEqual(parseAnswer("\x1b[D"), { type: "empty" });
});

Deno.test("playHuman() undoes the last answer with z: the game restarts and the earlier answers are sent again", async () => {
  // Secret 15 over 1..20: a wrong Colder for 16 is undone, then the game goes on truthfully.
  const turns = bisectGame(1, 20, 15);
  const truthful = turns.map(({ decision }) => LETTER[decision]);
  const answers = [...truthful.slice(0, 2), "c", "z", ...truthful.slice(2)];
  const { result, lines } = await human({ lower: 1, upper: 20, input: input(answers.join("\n")) });
  assert.deepEqual(result, { type: "won", secret: 15, guesses: turns.length });
  assert.ok(lines.includes("Undone: Colder for 16 after 10"), lines.join("\n"));
  assert.equal(lines.at(-1), `Got it: 15, in ${turns.length} guesses`);
  // After the undo the third guess is asked again.
  assert.equal(lines.filter((line) => line === "Guess 3, 14 numbers still possible").length, 2);
});

Deno.test("playHuman() says there is nothing to undo at the first guess", async () => {
  const { result, lines } = await human({ input: input("z\ny\n") });
  assert.deepEqual(result, { type: "won", secret: 1, guesses: 1 });
  assert.ok(lines.includes("Nothing to undo: this is my first guess"));
});

Deno.test("playHuman() asks Play again? after a win, and plays another game on y", async () => {
  const { result, lines } = await human({ input: input("y\ny\nu\ny\nn\n"), again: true });
  assert.deepEqual(result, { type: "won", secret: 50, guesses: 2 });
  assert.equal(lines.filter((line) => line === "Play again? (y/n)").length, 2);
  assert.deepEqual(lines.filter((line) => line.startsWith("Got it")), [
    "Got it: 1, in 1 guess",
    "Got it: 50, in 2 guesses",
  ]);
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

Deno.test("playHuman() reports a contradiction at the answer that causes it, once, on warn, naming the answers it conflicts with", async () => {
  // Over 1..20 bisect guesses 1, 10, 16, then 2: after Warmer for 10 (above 5) yes for 2 cannot be.
  const warnings: string[] = [];
  const { result, lines } = await human({
    lower: 1,
    upper: 20,
    input: input("u\nw\nc\ny\n"),
    warn: (line) => warnings.push(line),
  });
  const message = "yes for 2 after 16 conflicts with Warmer for 10 after 1";
  assert.deepEqual(result, { type: "contradiction", message, guesses: 4 });
  assert.deepEqual(warnings, [
    `Your answers contradict each other: ${message}; answer again, or z to undo`,
  ]);
  assert.ok(!lines.some((line) => line.includes("contradict")));
});

Deno.test("playHuman() lets the person undo instead of losing after a contradiction", async () => {
  // Secret 2 over 1..20: a wrong Warmer for 10 after 1, Colder for 16, then yes for 2 is a
  // contradiction; two undos take back Colder and Warmer, and the truth goes on to 2.
  const truthful = bisectGame(1, 20, 2).map(({ decision }) => LETTER[decision]);
  const warnings: string[] = [];
  const { result, lines } = await human({
    lower: 1,
    upper: 20,
    input: input(["u", "w", "c", "y", "z", "z", ...truthful.slice(1)].join("\n")),
    warn: (line) => warnings.push(line),
  });
  assert.equal(warnings.length, 1);
  assert.deepEqual(result, { type: "won", secret: 2, guesses: truthful.length });
  assert.ok(lines.includes("Undone: Colder for 16 after 10"));
  assert.ok(lines.includes("Undone: Warmer for 10 after 1"));
});

Deno.test("conflicts() finds the fewest earlier answers a new one contradicts", () => {
  const u1 = { guess: 1, previous: undefined, decision: "Unsure" as const };
  const w10 = { guess: 10, previous: 1, decision: "Warmer" as const }; // s >= 6
  const c16 = { guess: 16, previous: 10, decision: "Colder" as const }; // s <= 12
  assert.equal(conflicts(1, 20, [u1, w10], c16), undefined);
  const y2 = { guess: 2, previous: 16, decision: "Correct" as const };
  assert.deepEqual(conflicts(1, 20, [u1, w10, c16], y2), [w10]);
  const y14 = { guess: 14, previous: 16, decision: "Correct" as const };
  assert.deepEqual(conflicts(1, 20, [u1, w10, c16], y14), [c16]);
  // Unsure for 3 after 6: an odd sum has no midpoint, so no number fits it alone.
  const odd = { guess: 3, previous: 6, decision: "Unsure" as const };
  assert.deepEqual(conflicts(1, 20, [u1], odd), []);
  // Over 1..3, Unsure for 3 after 1 means 2; yes for 3 then conflicts with it.
  const un3 = { guess: 3, previous: 1, decision: "Unsure" as const };
  assert.equal(conflicts(1, 3, [u1], un3), undefined);
  assert.deepEqual(conflicts(1, 3, [u1, un3], { guess: 3, previous: 3, decision: "Correct" }), [
    un3,
  ]);
  // A guess answered other than yes is not the number: yes for it later conflicts.
  const y1 = { guess: 1, previous: 1, decision: "Correct" as const };
  assert.deepEqual(conflicts(1, 20, [u1], y1), [u1]);
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
  assert.equal(stdout, [...transcript(1, 100, turns), "Play again? (y/n)"].join("\n") + "\n");
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
  const { code, stdout, stderr } = await runPlay(
    ["--human", "--range", "1,10"],
    answers.join("\n"),
  );
  assert.equal(code, 1);
  assert.ok(!stdout.includes("contradict"));
  assert.match(
    stderr,
    /^Your answers contradict each other: (no number from 1 to 10 fits )?Warmer for 10 after 8[^\n]*; answer again, or z to undo\n$/,
  );
});

Deno.test("play --human answered line by line like a person, against the random strategy", async () => {
  await using child = spawnPlay(["--human", "--range", "1,20", "--strategy", "random"]);
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
  assert.match(text, /\nGot it: 13, in \d+ guess(es)?\nPlay again\? \(y\/n\)\n$/);
  assert.match(text, /^Note: the random strategy ignores your answers/);
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
      "After each guess, answer w (warmer), c (colder), u (unsure) or y (yes); z to undo, ? for help.",
      "Guess 1, 100 numbers still possible",
      "My guess: 1",
      "Interrupted: game abandoned after 1 guess",
      "",
    ].join("\n"),
  );
  await child.stdin.close();
});

Deno.test("playGuess() answers each guess with judge() against the previous one, ignoring arrow keys and bad lines", async () => {
  const lines: string[] = [];
  const guesses = [50, 70, 65, 61, 60];
  const text = "50\n\x1b[D70\nabc\n101\n\n65\n61\n60\n";
  const result = await playGuess({
    lower: 1,
    upper: 100,
    secret: 60,
    input: input(text),
    print: (line) => lines.push(line),
  });
  assert.deepEqual(result, { type: "won", guesses: 5 });
  let previous: bigint | undefined;
  const expected = guesses.map((guess) => {
    const { decision, distance } = judge(60, guess, previous);
    previous = distance;
    return decision === "Correct" ? `${guess}: Correct, in 5 guesses` : `${guess}: ${decision}`;
  });
  assert.deepEqual(lines, [
    "I am thinking of a whole number from 1 to 100: guess it.",
    expected[0],
    expected[1],
    'Please guess a whole number from 1 to 100, not "abc"',
    'Please guess a whole number from 1 to 100, not "101"',
    ...expected.slice(2),
  ]);
  assert.deepEqual(expected.slice(0, 4), ["50: Unsure", "70: Unsure", "65: Warmer", "61: Warmer"]);
});

Deno.test("play --guess keeps a seeded secret, answers piped guesses and tells the number at the end of input", async () => {
  const first = await runPlay(["--guess", "--seed", "3", "--range", "1,10"], "");
  assert.equal(first.code, 0);
  assert.equal(first.stderr, "");
  const secret = Number(first.stdout.match(/the number was (\d+) \(0 guesses\)\n$/)![1]);
  assert.ok(secret >= 1 && secret <= 10);
  const won = await runPlay(["--guess", "--seed", "3", "--range", "1,10"], `${secret}\n`);
  assert.equal(won.code, 0);
  assert.equal(
    won.stdout,
    `I am thinking of a whole number from 1 to 10: guess it.\n${secret}: Correct, in 1 guess\n`,
  );
});

Deno.test("play --human listens by default: bisect finds 73 in at most 8 guesses", async () => {
  const turns = bisectGame(1, 100, 73);
  const answers = turns.map(({ decision }) => LETTER[decision]).join("\n") + "\n";
  const { code, stdout } = await runPlay(["--human"], answers);
  assert.equal(code, 0);
  assert.ok(turns.length <= 8);
  assert.match(stdout, new RegExp(`\\nGot it: 73, in ${turns.length} guesses\\n`));
  assert.ok(!stdout.includes("Note:"));
});
