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
import { playHuman } from "./human.ts";
import { formatSummary, playGames, summarize, summaryJson } from "./stats.ts";
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
  --strategy S              In-process server's strategy: ${STRATEGIES.join(", ")} (default random)
  --seed N                  In-process server's seed, to replay a game; with --games also
                            the secrets' seed (default: random, printed with --games)
  --human                   You keep the secret: answer each 'My guess: N' line with
                            w (warmer), c (colder), u (unsure) or y (yes), one per line;
                            end of input or Ctrl-C abandons the game
  --games K                 Play K games with random secrets; print the mean, median and
                            worst number of guesses and a histogram
  --range LOWER,UPPER       The range of --human and --games (default 1,100)
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
    games: { type: "string" },
    range: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.out(PLAY_HELP);
    return 0;
  }
  const mode = values.human ? "--human" : values.games !== undefined ? "--games" : undefined;
  const conflicts: [unknown, string][] = [
    [values.human && values.games !== undefined, "--human and --games exclude each other"],
    [mode && values.game !== undefined, `--game applies to the seed's demo, not ${mode}`],
    [!mode && values.range !== undefined, "--range applies to --human and --games"],
    [values.json && mode !== "--games", "--json applies to --games"],
    [mode === "--human" && values.count !== undefined, "--count does not apply to --human"],
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
    strategy: strategy("play", values.strategy, "random"),
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
  const gamesSeed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];

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
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    Deno.addSignalListener("SIGINT", onInterrupt);
    try {
      const result = await playHuman(table, {
        lower,
        upper,
        input: Deno.stdin.readable,
        print: io.out,
        // A prompt without a newline only for a person at a terminal, not for scripts.
        prompt: io === stdio && Deno.stdin.isTerminal()
          ? (text) => writeText(Deno.stdout, text)
          : undefined,
        signal: controller.signal,
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
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  }
  if (mode === "--games") {
    const tally = await playGames(table, { lower, upper, games: rounds, count, seed: gamesSeed });
    const summary = summarize(tally);
    const by = remote ? `the server at ${values.connect}` : options.strategy;
    if (values.json) {
      const info = { strategy: remote ? null : options.strategy, lower, upper, seed: gamesSeed };
      io.out(summaryJson(summary, { ...info, count }));
    } else {
      const heading =
        `${rounds} game${rounds === 1 ? "" : "s"} of ${by} over [${lower}, ${upper}]` +
        `, seed ${gamesSeed}`;
      for (const line of formatSummary(summary, heading, count)) io.out(line);
    }
    return 0;
  }
  await playDemo(table, games, count, io.out);
  return 0;
}
