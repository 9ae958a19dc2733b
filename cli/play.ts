/**
 * `guess play`: the seed's demo, `--human` (a person keeps the secret) and
 * `--games K` (statistics), against an in-process server or `--connect`.
 *
 * @module
 */

import {
  hostPort,
  integer,
  integers,
  type Io,
  parse,
  seed,
  stdio,
  strategy,
  UsageError,
  writeText,
} from "./args.ts";
import { DEMO_GAMES, type GameSpec, openInProcess, openRemote, playDemo } from "./demo.ts";
import { playGuess, playHuman } from "./human.ts";
import { formatSummary, playGames, randomInteger, summarize, summaryJson } from "./stats.ts";
import { randomSeed } from "../net.ts";
import { Rng } from "../strategy.ts";
import { STRATEGIES } from "../strategies.ts";

/**
 * The help of `guess play`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PLAY_HELP } from "./play.ts";
 * assert.match(PLAY_HELP, /--human/);
 * ```
 */
export const PLAY_HELP = `Usage: guess play [options]

Plays games as the seed's client does and prints what happens. Without --connect the
server runs in this process over in-memory streams, so no permissions are needed.
With --human you think of a number and the server guesses it; with --games K it plays
K games with random secrets and prints how many guesses they took.

Options:
  --connect HOST:PORT       Play a remote server instead (needs --allow-net)
  --timeout S               With --connect: seconds to wait for the connection and each
                            reply (default 10)
  --game LOWER,UPPER,SECRET A game to play; repeat for more (default: 1,5,3 and 10,15,12)
  --count N                 Most guesses per game (default 5; with --games 10000)
  --strategy S              In-process server's strategy: ${STRATEGIES.join(", ")}
                            (default random; bisect with --human)
  --seed N                  In-process server's seed, to replay a game; with --games also
                            the secrets' seed (default: random, printed with --games)
  --human                   You keep the secret: answer each 'My guess: N' line with
                            w (warmer), c (colder), u (unsure) or y (yes), one per line,
                            z to undo; end of input or Ctrl-C abandons the game
  --guess                   You guess: the computer keeps a random number in --range
                            (from --seed) and answers warmer, colder, unsure or correct
  --games K                 Play K games with random secrets; print the mean, median and
                            worst number of guesses and a histogram
  --range LOWER,UPPER       The range of --human, --guess and --games (default 1,100)
  --json                    With --games: the statistics as one JSON line
  -h, --help                Show this help
`;

function gameSpec(text: string): GameSpec {
  const bad = () =>
    new UsageError(
      `--game needs LOWER,UPPER,SECRET with LOWER <= SECRET <= UPPER, got "${text}"`,
      "play",
    );
  const values = integers(text, 3);
  if (!values) throw bad();
  const [lower, upper, secret] = values;
  if (lower > secret || secret > upper) throw bad();
  return { lower, upper, secret };
}

/**
 * Runs `guess play`.
 *
 * @param args The arguments after `play`.
 * @param io Where the game's lines go.
 * @returns The exit status: 0 done, 1 a contradiction, 130 interrupted.
 * @throws {UsageError} On a bad command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { playCommand } from "./play.ts";
 * const lines: string[] = [];
 * const io = { out: (l: string) => lines.push(l), err: () => {} };
 * assert.equal(await playCommand(["--game", "7,7,7", "--seed", "1"], io), 0);
 * assert.deepEqual(lines.slice(0, 2), ["\nGuess a number between 7 and 7! Shhhhh, it's 7.", "Server: 7 is Correct"]);
 * ```
 */
export async function playCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse("play", args, {
    connect: { type: "string" },
    timeout: { type: "string" },
    game: { type: "string", multiple: true },
    count: { type: "string" },
    strategy: { type: "string" },
    seed: { type: "string" },
    human: { type: "boolean" },
    guess: { type: "boolean" },
    games: { type: "string" },
    range: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(PLAY_HELP);
    return 0;
  }
  const modes = [
    values.human && "--human",
    values.guess && "--guess",
    values.games !== undefined && "--games",
  ].filter((m) => typeof m === "string");
  const mode = modes[0];
  const conflicts: [unknown, string][] = [
    [modes.length > 1, `${modes.join(" and ")} exclude each other`],
    [
      mode === "--guess" && values.connect !== undefined,
      "--guess is played in this process, not --connect",
    ],
    [mode === "--guess" && values.strategy !== undefined, "--strategy does not apply to --guess"],
    [mode && values.game !== undefined, `--game applies to the seed's demo, not ${mode}`],
    [!mode && values.range !== undefined, "--range applies to --human, --guess and --games"],
    [values.json && mode !== "--games", "--json applies to --games"],
    [
      (mode === "--human" || mode === "--guess") && values.count !== undefined,
      `--count does not apply to ${mode}`,
    ],
  ];
  const conflict = conflicts.find(([bad]) => bad);
  if (conflict) throw new UsageError(conflict[1], "play");
  const games = values.game?.map(gameSpec) ?? DEMO_GAMES;
  const defaultCount = mode === "--games" ? 10_000 : 5;
  const count = values.count === undefined
    ? defaultCount
    : integer("play", "count", values.count, 1, 1e9);
  const remote = values.connect === undefined ? undefined : hostPort(values.connect, "play");
  if (!remote && values.timeout !== undefined) {
    throw new UsageError("--timeout applies to --connect", "play");
  }
  const timeout = values.timeout === undefined
    ? undefined
    : integer("play", "timeout", values.timeout, 1, 86_400) * 1000;
  const options = {
    strategy: strategy("play", values.strategy, mode === "--human" ? "bisect" : "random"),
    seed: seed("play", values.seed),
  };
  // With --games the seed also picks the secrets, so it means something with --connect too.
  if (remote && (values.strategy !== undefined || (values.seed !== undefined && !values.games))) {
    throw new UsageError(
      "--strategy and --seed apply to the in-process server, not --connect",
      "play",
    );
  }
  let lower = 1, upper = 100;
  if (values.range !== undefined) {
    const bounds = integers(values.range, 2);
    if (!bounds || bounds[0] > bounds[1]) {
      throw new UsageError(
        `--range needs LOWER,UPPER, safe integers with LOWER <= UPPER, got "${values.range}"`,
        "play",
      );
    }
    [lower, upper] = bounds;
  }
  const rounds = values.games === undefined
    ? 0
    : integer("play", "games", values.games, 1, 1_000_000);
  const gamesSeed = options.seed ?? randomSeed();

  if (mode === "--guess") {
    const secret = randomInteger(new Rng(gamesSeed).fork(), lower, upper);
    return await withInterrupt(async (signal) => {
      const result = await playGuess({
        lower,
        upper,
        secret,
        input: Deno.stdin.readable,
        print: io.out,
        prompt: terminalPrompt(io),
        signal,
      });
      return result.type === "abandoned" && result.interrupted ? 130 : 0;
    });
  }

  await using table = remote
    ? await openRemote(remote.hostname, remote.port, timeout)
    : openInProcess({
      ...options,
      seed: mode === "--games" ? gamesSeed : options.seed,
      onEvent(event) {
        if (event.type === "report" && !mode) io.out(`Server: ${event.guess} is ${event.decision}`);
      },
    });
  if (mode === "--human") {
    if (!remote && options.strategy === "random") {
      io.out(
        "Note: the random strategy ignores your answers (it guesses in a random order);" +
          " --strategy bisect, the default, listens",
      );
    }
    return await withInterrupt(async (signal) => {
      const result = await playHuman(table, {
        lower,
        upper,
        input: Deno.stdin.readable,
        print: io.out,
        warn: io.err,
        prompt: terminalPrompt(io),
        again: true,
        signal,
      });
      switch (result.type) {
        case "won":
          return 0;
        case "abandoned":
          return result.interrupted ? 130 : 0;
        case "contradiction":
          return 1;
        default: {
          const unknown: never = result;
          throw new Error(`Unknown result ${JSON.stringify(unknown)}`);
        }
      }
    });
  }
  if (mode === "--games") {
    const by = remote ? `the server at ${values.connect}` : options.strategy;
    const heading = `${rounds} game${rounds === 1 ? "" : "s"} of ${by} over [${lower}, ${upper}]` +
      `, seed ${gamesSeed}`;
    const tty = io === stdio && Deno.stderr.isTerminal();
    const every = Math.max(1, Math.floor(rounds / 100));
    return await withInterrupt(async (signal) => {
      // The heading (with the seed) first, so a long run says at once what it is doing.
      if (!values.json) io.out(heading);
      const tally = await playGames(table, {
        lower,
        upper,
        games: rounds,
        count,
        seed: gamesSeed,
        signal,
        onProgress: tty
          ? (played) => {
            if (played % every === 0) {
              writeText(Deno.stderr, `\r${played} of ${rounds} games played\x1b[K`);
            }
          }
          : undefined,
      });
      if (tty) writeText(Deno.stderr, "\r\x1b[K");
      const summary = summarize(tally);
      if (values.json) {
        const info = { strategy: remote ? null : options.strategy, lower, upper, seed: gamesSeed };
        io.out(summaryJson(summary, { ...info, count }));
      } else {
        for (const line of formatSummary(summary, heading, count).slice(1)) io.out(line);
      }
      if (!signal.aborted) return 0;
      io.err(`Interrupted: ${summary.games} of ${rounds} games played`);
      return 130;
    });
  }
  await playDemo(table, games, count, io.out);
  return 0;
}

/** A prompt without a newline only for a person at a terminal, not for scripts. */
function terminalPrompt(io: Io): ((text: string) => void) | undefined {
  return io === stdio && Deno.stdin.isTerminal()
    ? (text) => writeText(Deno.stdout, text)
    : undefined;
}

/** Runs `body` with a signal that Ctrl-C (SIGINT) aborts. */
async function withInterrupt(body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await body(controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
