/**
 * Byte compatibility with the Python seed (`interop/seed.py`), both ways: our
 * server with the seed's client, and our client with the seed's server.
 * Skipped, with a printed reason, when `python3` is missing.
 */

import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { type GameEvent, judge } from "../protocol.ts";
import { serve } from "../server.ts";
import { decode, readStreamUntil, runCli, SEED_PATH, withTimeout } from "./helpers.ts";

async function hasPython(): Promise<boolean> {
  try {
    const command = new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    });
    return (await command.output()).success;
  } catch {
    return false; // NotFound: spawning throws at once
  }
}

const python = await hasPython();
if (!python) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be visible
  console.log("interop_test.ts: python3 not found, the interop tests are ignored");
}

const DEMO: [number, number, number][] = [[1, 5, 3], [10, 15, 12]];

/** What the seed's client prints: a header per game, then one Client line per guess. */
function clientOutput(games: [number, number, number][], guesses: number[][]): string {
  const lines: string[] = [];
  const results: string[] = [];
  games.forEach(([lower, upper, secret], index) => {
    lines.push("", `Guess a number between ${lower} and ${upper}! Shhhhh, it's ${secret}.`);
    let previous: bigint | undefined;
    for (const guess of guesses[index]) {
      const verdict = judge(secret, guess, previous);
      previous = verdict.distance;
      results.push(`Client: ${guess} is ${verdict.decision}`);
    }
  });
  return [...lines, ...results, ""].join("\n");
}

/** The guesses per game, from a server's events. */
function guessesOf(events: GameEvent[]): number[][] {
  const games: number[][] = [];
  for (const event of events) {
    if (event.type === "start") games.push([]);
    if (event.type === "report") games.at(-1)!.push(event.guess);
  }
  return games;
}

async function runSeedClient(port: number, games: string[] = []) {
  const output = await new Deno.Command("python3", {
    args: [SEED_PATH, "client", String(port), ...games],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test({
  name: "the seed's Python client plays our server, byte for byte",
  ignore: !python,
  async fn() {
    const events: GameEvent[] = [];
    await using server = serve({ port: 0, onEvent: (event) => events.push(event) });
    const { code, stdout, stderr } = await runSeedClient(server.addr.port);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const guesses = guessesOf(events);
    assert.equal(guesses.length, 2);
    assert.ok(guesses[0].every((n) => n >= 1 && n <= 5));
    assert.ok(guesses[1].every((n) => n >= 10 && n <= 15));
    assert.equal(stdout, clientOutput(DEMO, guesses));
    // Each game ended with the seed's PARAMS 0 -1.
    assert.equal(events.filter((event) => event.type === "end").length, 2);
  },
});

Deno.test({
  name: "the seed's Python client plays our server with negative and one-value games",
  ignore: !python,
  async fn() {
    const events: GameEvent[] = [];
    await using server = serve({ port: 0, onEvent: (event) => events.push(event) });
    const games: [number, number, number][] = [[7, 7, 7], [-5, 5, -5], [-20, -11, -13]];
    const { code, stdout, stderr } = await runSeedClient(
      server.addr.port,
      games.map((game) => game.join(",")),
    );
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const guesses = guessesOf(events);
    assert.deepEqual(guesses[0], [7]);
    assert.equal(stdout, clientOutput(games, guesses));
  },
});

/**
 * The seed's server, on port 0: the seed's own `handle_async_connection`,
 * started by a few lines of Python that print `Listening on` once it is bound
 * (`seed.py server PORT` prints it before binding, and needs a port chosen in
 * advance).
 */
const SEED_SERVER = `
import asyncio, importlib.util, random, sys
spec = importlib.util.spec_from_file_location("seed", sys.argv[1])
seed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed)
random.seed(int(sys.argv[2]))

async def main():
    server = await asyncio.start_server(seed.handle_async_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"Listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
`;

async function startSeedServer(seed: number) {
  const child = new Deno.Command("python3", {
    args: ["-c", SEED_SERVER, SEED_PATH, String(seed)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = child.stdout.getReader();
  const stderr = child.stderr.getReader();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await withTimeout(child.status, 5_000, "the Python server exiting");
    await Promise.all([stdout.cancel(), stderr.cancel()]);
  };
  try {
    const text = await readStreamUntil(stderr, (t) => /Listening on \S+\n/.test(t), 10_000);
    const match = /Listening on 127\.0\.0\.1:(\d+)\n/.exec(text);
    assert.ok(match, `the Python server said ${JSON.stringify(text)}`);
    let printed = "";
    return {
      port: Number(match[1]),
      /** Reads the server's stdout until it printed `count` Server lines; returns them. */
      async serverLines(count: number): Promise<string[]> {
        const more = await readStreamUntil(
          stdout,
          (t) => (printed + t).split("\n").filter((l) => l.startsWith("Server: ")).length >= count,
        );
        printed += more;
        return printed.split("\n").filter((line) => line.startsWith("Server: "));
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

Deno.test({
  name: "play --connect plays the seed's Python server, byte for byte",
  ignore: !python,
  async fn() {
    await using seed = await startSeedServer(1);
    const { code, stdout, stderr } = await runCli(
      ["play", "--connect", `127.0.0.1:${seed.port}`],
      { flags: ["--allow-net"], timeout: 10_000 },
    );
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const clientLines = stdout.split("\n").filter((line) => line.startsWith("Client: "));
    assert.ok(clientLines.length >= 2 && clientLines.length <= 10, stdout);
    // The Python server printed the same judgements, in the same order.
    const serverLines = await seed.serverLines(clientLines.length);
    assert.deepEqual(
      serverLines.map((line) => line.slice(8)),
      clientLines.map((line) => line.slice(8)),
    );
    // And our output is exactly the seed client's format for those guesses.
    const guesses: number[][] = [[], []];
    let game = 0;
    for (const line of clientLines) {
      const guess = Number(line.split(" ")[1]);
      guesses[game].push(guess);
      if (line.endsWith("Correct") || guesses[game].length === 5) game++;
    }
    assert.equal(stdout, clientOutput(DEMO, guesses));
  },
});

Deno.test({
  name: "our Client plays the seed's Python server until Correct, twice on one connection",
  ignore: !python,
  async fn() {
    await using seed = await startSeedServer(2);
    await using client = await connect({ hostname: "127.0.0.1", port: seed.port, timeout: 5_000 });
    const judged: string[] = [];
    for (const [lower, upper, secret] of [[1, 100, 37], [-50, -41, -41]]) {
      await using game = await client.session(lower, upper, secret);
      const seen = new Set<number>();
      for await (const n of game.requestNumbers(upper - lower + 1)) {
        assert.ok(n >= lower && n <= upper, `${n} in [${lower}, ${upper}]`);
        assert.ok(!seen.has(n), `${n} guessed twice`);
        seen.add(n);
        judged.push(`Server: ${n} is ${await game.reportOutcome(n)}`);
      }
      assert.equal(game.solved, true);
      assert.equal(judged.at(-1), `Server: ${secret} is Correct`);
    }
    assert.deepEqual(await seed.serverLines(judged.length), judged);
  },
});
