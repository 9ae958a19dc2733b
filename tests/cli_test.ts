/**
 * The CLI: in-process through `main(args, io)` for output and usage errors,
 * and as real subprocesses (`deno run [flags] main.ts ...`) once per command
 * and wherever the process itself is the point (permissions, signals).
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { type GameEvent, judge, Session } from "../protocol.ts";
import { serve } from "../server.ts";
import { Rng } from "../strategy.ts";
import { openFileLimit } from "../cli/bench.ts";
import {
  closedPort,
  MAIN_PATH,
  playSeedDemo,
  readStreamUntil,
  readToEnd,
  runCli,
  runMain,
  spawnCli,
  withTimeout,
  writeText,
} from "./helpers.ts";

const NET = ["--allow-net"];

/** What the seed's client prints for a list of games, given the server's guesses. */
function seedOutput(
  games: [number, number, number][],
  guessesOf: (game: number) => number[],
  withServerLines: boolean,
): string {
  const lines: string[] = [];
  const results: string[] = [];
  games.forEach(([lower, upper, secret], index) => {
    lines.push("", `Guess a number between ${lower} and ${upper}! Shhhhh, it's ${secret}.`);
    let previous: bigint | undefined;
    for (const guess of guessesOf(index)) {
      const verdict = judge(secret, guess, previous);
      previous = verdict.distance;
      if (withServerLines) lines.push(`Server: ${guess} is ${verdict.decision}`);
      results.push(`Client: ${guess} is ${verdict.decision}`);
    }
  });
  return [...lines, ...results, ""].join("\n");
}

/** The guesses an in-process server seeded with `seed` makes for these games. */
function modelGuesses(seed: number, games: [number, number, number][], count: number) {
  const session = new Session({ rng: new Rng(seed) });
  return games.map((game) => playSeedDemo(session, [game], count).map(([guess]) => guess));
}

const DEMO: [number, number, number][] = [[1, 5, 3], [10, 15, 12]];

Deno.test("play --seed 1 needs no permission flags and prints the seed's format", async () => {
  const { code, stdout, stderr } = await runCli(["play", "--seed", "1"]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  const guesses = modelGuesses(1, DEMO, 5);
  assert.equal(stdout, seedOutput(DEMO, (i) => guesses[i], true));
  // The structure, spelled out.
  const lines = stdout.split("\n");
  assert.equal(lines[0], "");
  assert.equal(lines[1], "Guess a number between 1 and 5! Shhhhh, it's 3.");
  const server = lines.filter((line) => line.startsWith("Server: "));
  const client = lines.filter((line) => line.startsWith("Client: "));
  assert.ok(server.length >= 2 && server.length <= 10);
  assert.deepEqual(client.map((line) => line.slice(8)), server.map((line) => line.slice(8)));
  for (const line of client) assert.match(line, /^Client: \d+ is (Warmer|Colder|Unsure|Correct)$/);
  const secondHeader = lines.indexOf("Guess a number between 10 and 15! Shhhhh, it's 12.");
  assert.equal(lines[secondHeader - 1], "");
  assert.ok(lines.indexOf(client[0]) > secondHeader, "Client lines come after all games");
  assert.equal(stdout.at(-1), "\n");
});

Deno.test("play with the same seed prints the same output twice", async () => {
  const [a, b] = await Promise.all([
    runMain(["play", "--seed", "12345"]),
    runMain(["play", "--seed", "12345"]),
  ]);
  assert.equal(a.code, 0);
  assert.equal(a.stdout, b.stdout);
  const guesses = modelGuesses(12345, DEMO, 5);
  assert.equal(a.stdout, seedOutput(DEMO, (i) => guesses[i], true));
});

Deno.test("play --game repeated and --count set the games and the guesses per game", async () => {
  const games: [number, number, number][] = [[1, 3, 2], [5, 5, 5], [-10, 10, -10]];
  const { code, stdout, stderr } = await runMain([
    "play",
    "--seed",
    "3",
    "--game",
    "1,3,2",
    "--game",
    "5,5,5",
    "--game=-10,10,-10",
    "--count",
    "2",
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  const guesses = modelGuesses(3, games, 2);
  assert.ok(guesses.every((g) => g.length <= 2));
  assert.deepEqual(guesses[1], [5]);
  assert.equal(stdout, seedOutput(games, (i) => guesses[i], true));
});

Deno.test("play takes negative numbers as option values, with or without =", async () => {
  const spaced = await runMain(["play", "--seed", "-7", "--game", "-3,5,-1", "--count", "9"]);
  const joined = await runMain(["play", "--seed=-7", "--game=-3,5,-1", "--count=9"]);
  assert.equal(spaced.stderr, "");
  assert.equal(spaced.code, 0);
  assert.match(spaced.stdout, /Guess a number between -3 and 5! Shhhhh, it's -1\./);
  assert.match(spaced.stdout, /^Client: -1 is Correct$/m);
  assert.equal(spaced.stdout, joined.stdout);
});

Deno.test("play --count 1 asks one number per game", async () => {
  const { code, stdout } = await runMain(["play", "--count", "1"]);
  assert.equal(code, 0);
  assert.equal(stdout.split("\n").filter((line) => line.startsWith("Client: ")).length, 2);
});

Deno.test("play --connect plays a remote server", async () => {
  const events: GameEvent[] = [];
  const bothEnded = Promise.withResolvers<void>();
  await using server = serve({
    port: 0,
    onEvent: (event) => {
      events.push(event);
      if (events.filter((e) => e.type === "end").length === 2) bothEnded.resolve();
    },
  });
  const { code, stdout, stderr } = await runMain([
    "play",
    "--connect",
    `127.0.0.1:${server.addr.port}`,
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  // The client may return before the server has read its last lines.
  await withTimeout(bothEnded.promise, 5_000, "the server seeing both games end");
  // The guesses the server made, as it saw them judged.
  const reports = events.filter((event) => event.type === "report");
  const starts = events.filter((event) => event.type === "start");
  assert.deepEqual(starts, [
    { type: "start", lower: 1, upper: 5 },
    { type: "start", lower: 10, upper: 15 },
  ]);
  const byGame: number[][] = [[], []];
  let game = -1;
  for (const event of events) {
    if (event.type === "start") game++;
    if (event.type === "report") byGame[game].push(event.guess);
  }
  // No Server lines: the server is remote.
  assert.equal(stdout, seedOutput(DEMO, (i) => byGame[i], false));
  assert.equal(reports.length, byGame[0].length + byGame[1].length);
  assert.equal(events.filter((event) => event.type === "end").length, 2);
});

Deno.test("play --connect to a closed port exits 1 with one clear line", async () => {
  const port = closedPort();
  const { code, stdout, stderr } = await runMain(["play", "--connect", `127.0.0.1:${port}`]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    `guess: Cannot connect to 127.0.0.1:${port}: connection refused; ` +
      "is `guess serve` running there?\n",
  );
});

Deno.test("play --connect without --allow-net exits 1 with one line, no prompt", async () => {
  const { code, stdout, stderr } = await runCli(["play", "--connect", "127.0.0.1:1"]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^guess: [^\n]*net[^\n]*\n$/);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`serve --port 0 listens, plays, and exits 0 on ${signal}`, async () => {
    await using child = spawnCli(["serve", "--port", "0", "--seed", "1", "--verbose"], NET);
    const stderr = child.stderr.getReader();
    const stdout = new Response(child.stdout).text();
    try {
      const listening = await readStreamUntil(stderr, (text) => /Listening on \S+\n/.test(text));
      // Each text line starts with an ISO 8601 time.
      const match = /^\d{4}-\d\d-\d\dT[\d:.]+Z Listening on 127\.0\.0\.1:(\d+)$/m.exec(listening);
      assert.ok(match, `no Listening line in ${JSON.stringify(listening)}`);
      const port = Number(match[1]);
      assert.notEqual(port, 0);
      {
        using conn = await withTimeout(Deno.connect({ port }), 2_000, "connecting");
        await writeText(conn, "PARAMS 4 4\nNUMBER\nREPORT Correct\nNUMBER\nPARAMS 0 -1\n");
        await conn.closeWrite();
        assert.equal(await readToEnd(conn), "4\n4\n");
      }
      child.kill(signal);
      const status = await withTimeout(child.status, 5_000, `serve exiting after ${signal}`);
      const rest = await readStreamUntil(stderr, () => false);
      assert.equal(status.code, 0);
      assert.equal(status.signal, null);
      assert.match(listening + rest, /Z Server: 4 is Correct\b/, "--verbose logs the seed's line");
      assert.match(rest, new RegExp(`Received ${signal}`));
      assert.equal(await stdout, "");
    } finally {
      stderr.releaseLock();
    }
  });
}

Deno.test("--help, and --help of serve, play and bench, exit 0 with usage on stdout", async () => {
  const runs = await Promise.all([
    runMain(["--help"]),
    runMain(["-h"]),
    runMain(["serve", "--help"]),
    runMain(["play", "--help"]),
    runMain(["play", "-h"]),
    runMain(["bench", "--help"]),
  ]);
  for (const { code, stdout, stderr } of runs) {
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.match(stdout, /Usage:/);
  }
  assert.match(runs[2].stdout, /--port P/);
  assert.match(runs[3].stdout, /--game LOWER,UPPER,SECRET/);
  assert.match(runs[5].stdout, /--pipeline D/);
});

Deno.test("--version prints the version from deno.json", async () => {
  const { code, stdout, stderr } = await runMain(["--version"]);
  assert.equal(code, 0);
  assert.equal(stderr, "");
  assert.equal(stdout, `guess ${denoJson.version}\n`);
});

const USAGE_ERRORS: [string[], RegExp][] = [
  [[], /^guess: Missing command\b/],
  [["fly"], /^guess: Unknown command "fly"/],
  [["play", "--bogus"], /^guess: Unknown option '--bogus'/],
  [["serve", "--bogus"], /^guess: Unknown option '--bogus'/],
  [["play", "extra"], /^guess: Unexpected argument 'extra'/],
  [["bench", "--bogus"], /^guess: Unknown option '--bogus'/],
  [["serve", "--port", "70000"], /^guess: --port needs an integer from 0 to 65535, got "70000"/],
  [["serve", "--port", "abc"], /^guess: --port needs an integer from 0 to 65535, got "abc"/],
  [["serve", "--port=-1"], /^guess: --port needs an integer from 0 to 65535, got "-1"/],
  [["serve", "--port"], /^guess: Option '--port <value>' argument missing/],
  [["play", "--game", "1,2"], /^guess: --game needs LOWER,UPPER,SECRET .*, got "1,2"/],
  [["play", "--game", "5,1,3"], /^guess: --game needs LOWER,UPPER,SECRET .*, got "5,1,3"/],
  [["play", "--game", "1,5,9"], /^guess: --game needs LOWER,UPPER,SECRET .*, got "1,5,9"/],
  [["play", "--game", "1,5,x"], /^guess: --game needs LOWER,UPPER,SECRET .*, got "1,5,x"/],
  [["play", "--count", "0"], /^guess: --count needs an integer from 1 to /],
  [["play", "--count", "x"], /^guess: --count needs an integer from 1 to /],
  [["play", "--seed", "1.5"], /^guess: --seed needs an integer/],
  [["play", "--connect", "nohost"], /^guess: --connect needs HOST:PORT, got "nohost"/],
];

Deno.test("usage errors exit 2 with the problem and a hint on stderr", async () => {
  for (const [args, message] of USAGE_ERRORS) {
    const { code, stdout, stderr } = await runMain(args);
    assert.equal(code, 2, `exit code of ${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "", args.join(" "));
    assert.match(stderr, message, args.join(" "));
    assert.match(stderr, /\nTry 'guess (\w+ )?--help'\n$/, args.join(" "));
    assert.equal(stderr.split("\n").length, 3, `two lines for ${args.join(" ")}`);
  }
});

Deno.test("serve without --allow-net exits 1 with one line", async () => {
  const { code, stdout, stderr } = await runCli(["serve", "--port", "0"]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^guess: [^\n]*net[^\n]*\n$/);
});

Deno.test("bench without --allow-read exits 1 with one line, not the worker's uncaught error", async () => {
  const { code, stdout, stderr } = await runCli(["bench", "--duration", "1"], {
    flags: ["--allow-net"],
  });
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    "guess: Requires read access to start the server worker: run with --allow-read" +
      " (deno run --allow-net --allow-read main.ts bench), or give --connect HOST:PORT\n",
  );
});

Deno.test("bench checks --connections against the open-file limit before starting and says how to raise it", async () => {
  // Deno 2.9 reads /proc/self/limits only with --allow-all.
  const command = `ulimit -n 256 && exec "$0" run -A "$1" bench --connections 200 --duration 1`;
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", command, Deno.execPath(), MAIN_PATH],
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.equal(
    new TextDecoder().decode(stderr),
    "guess: --connections 200 needs about 464 open files, over this process's limit of 256:" +
      " raise it (ulimit -n 464, up to the hard limit in ulimit -Hn) or lower --connections\n",
  );
  assert.equal(code, 1);
});

Deno.test("bench with --allow-read only finds the open-file limit by probing and says how to raise it", async () => {
  // Without --allow-all, /proc/self/limits is closed to us: bench probes with /dev/null.
  const command =
    `ulimit -n 256 && exec "$0" run --allow-net --allow-read "$1" bench --connections 200 --duration 1`;
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", command, Deno.execPath(), MAIN_PATH],
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.match(
    new TextDecoder().decode(stderr),
    /^guess: --connections 200 needs about 464 open files, but this process can open only \d+ more: raise it \(ulimit -n 464, up to the hard limit in ulimit -Hn\) or lower --connections\n$/,
  );
  assert.equal(code, 1);
});

Deno.test("openFileLimit() reads the soft limit, undefined when unlimited", () => {
  const text = "Limit  Soft Limit  Hard Limit  Units\nMax open files  1024  4096  files\n";
  assert.equal(openFileLimit(text), 1024);
  assert.equal(openFileLimit("Max open files  unlimited  unlimited  files\n"), undefined);
  assert.equal(openFileLimit("Max processes  10  10  processes\n"), undefined);
});

Deno.test("mod.ts exports the public API by name and no internals", async () => {
  const mod = await import("../mod.ts");
  const names = Object.keys(mod).sort();
  for (
    const internal of ["excerpt", "errorMessage", "parseInteger", "decodeLine", "SHUFFLE_LIMIT"]
  ) {
    assert.ok(!names.includes(internal), internal);
  }
  for (const name of ["serve", "connect", "Client", "Game", "Session", "judge", "ProtocolError"]) {
    assert.ok(names.includes(name), name);
  }
  const text = await Deno.readTextFile(new URL("../mod.ts", import.meta.url));
  assert.ok(!/export \*/.test(text));
});

Deno.test("help serve shows serve's help; -v is an unknown option; serve --help says it needs --allow-net", async () => {
  const help = await runCli(["help", "serve"]);
  const serveHelp = await runCli(["serve", "--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, serveHelp.stdout);
  assert.match(serveHelp.stdout, /needs --allow-net/);
  const v = await runCli(["-v"]);
  assert.equal(v.code, 2);
  assert.equal(
    v.stderr,
    'guess: Unknown option "-v": expected a command (serve, play, bench), --help or --version\n' +
      "Try 'guess --help'\n",
  );
});

Deno.test("deno task lists every task with its description", async () => {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  for (const [name, task] of Object.entries(denoJson.tasks)) {
    assert.equal(typeof task.description, "string", name);
    assert.ok(text.includes(`- ${name}\n    // ${task.description}\n`), `${name} in ${text}`);
  }
});

Deno.test("deno install -g -n guess --config deno.json into a temporary root gives a working guess play", async () => {
  const root = await Deno.makeTempDir({ prefix: "guess-install-" });
  try {
    const repo = new URL("..", import.meta.url).pathname;
    const install = await new Deno.Command(Deno.execPath(), {
      args: [
        "install",
        "-g",
        "-n",
        "guess",
        "--config",
        `${repo}deno.json`,
        "--root",
        root,
        `${repo}main.ts`,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
    const play = await new Deno.Command(`${root}/bin/guess`, {
      args: ["play", "--seed", "1"],
      env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" },
    }).output();
    assert.equal(new TextDecoder().decode(play.stderr), "");
    assert.equal(play.code, 0);
    assert.match(new TextDecoder().decode(play.stdout), /^\nGuess a number between 1 and 5!/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
