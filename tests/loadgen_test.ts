import assert from "node:assert/strict";
import { type LoadResult, runLoad } from "../cli/loadgen.ts";
import { main } from "../main.ts";
import { serve } from "../server.ts";
import { closedPort, decode, encode, runCli, spawnCli, withTimeout } from "./helpers.ts";

/** Every run is bounded by this, even when the abort a test waits for never comes. */
const BOUND = 5_000;

/**
 * A fake server on port 0: `answer(n)` gives the reply text to the n-th
 * `NUMBER` line it receives overall (counting from 0), or `undefined` for
 * silence. It tells when every reply it sent was followed, on the same
 * connection, by the client's next `NUMBER` (so the client has handled it) or
 * by the client closing the connection.
 */
function fakeServer(answer: (n: number) => string | undefined) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let numbers = 0;
  let replies = 0;
  let handled = 0;
  let closed = 0;
  const settled = Promise.withResolvers<void>();
  const watchers = new Set<{ until: () => boolean; resolve: () => void }>();
  const check = () => {
    for (const watcher of watchers) {
      if (watcher.until()) {
        watchers.delete(watcher);
        watcher.resolve();
      }
    }
  };
  const handle = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(1024);
    let text = "";
    let waiting = false; // A reply of ours the client has not shown it handled.
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decode(buffer.subarray(0, n));
        let newline;
        while ((newline = text.indexOf("\n")) !== -1) {
          const line = text.slice(0, newline);
          text = text.slice(newline + 1);
          if (line !== "NUMBER") continue;
          if (waiting) handled++, waiting = false;
          const reply = answer(numbers++);
          if (reply === undefined) continue;
          replies++;
          waiting = true;
          await conn.write(encode(reply));
        }
        check();
      }
    } catch {
      // Closed by the client at the end of the run.
    } finally {
      if (waiting) handled++;
      closed++;
      conn.close();
      check();
    }
  };
  const conns: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(handle(conn));
    await Promise.all(conns);
    settled.resolve();
  })();
  return {
    port: listener.addr.port,
    get replies() {
      return replies;
    },
    get closed() {
      return closed;
    },
    /** Resolves once `until()` holds, checked after every read and close. */
    when(until: () => boolean): Promise<void> {
      const { promise, resolve } = Promise.withResolvers<void>();
      watchers.add({ until, resolve });
      check();
      return promise;
    },
    get handled() {
      return handled;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await settled.promise;
    },
  };
}

Deno.test("runLoad() counts exactly the valid replies a server sent", async () => {
  // Over 1..1 every guess is 1 and Correct: each reply is one round trip and one game.
  await using server = fakeServer((n) => n < 25 ? "1\n" : undefined);
  const controller = new AbortController();
  const done = server.when(() => server.replies === 25 && server.handled === 25);
  done.then(() => controller.abort());
  const result = await runLoad({
    port: server.port,
    connections: 3,
    range: 1,
    duration: BOUND,
    signal: controller.signal,
  });
  await done;
  assert.equal(result.roundTrips, 25);
  assert.equal(result.games, 25);
  assert.equal(result.errors, 0);
  assert.equal(result.firstError, undefined);
  assert.equal(result.peakOpen, 3);
  assert.equal(result.opened, 3);
  assert.ok(result.seconds < BOUND / 1000, `ran ${result.seconds} s: the abort did not stop it`);
  assert.ok(result.latency.p50 > 0 && result.latency.p50 <= result.latency.max);
});

Deno.test("runLoad() counts ERROR, out-of-range and malformed replies as errors", async () => {
  const bad = ["ERROR Boom\n", "0\n", "eleven\n", "11\n"];
  await using server = fakeServer((n) => bad[n]);
  const controller = new AbortController();
  // After each bad reply the client closes that connection and opens another.
  const done = server.when(() => server.closed === bad.length);
  done.then(() => controller.abort());
  const result = await runLoad({
    port: server.port,
    connections: 1,
    range: 10,
    duration: BOUND,
    signal: controller.signal,
  });
  await done;
  assert.equal(result.errors, 4);
  assert.equal(result.roundTrips, 0);
  assert.equal(result.games, 0);
  assert.equal(result.firstError, "ServerError: Boom");
  // The fifth connection may or may not have opened before the abort.
  assert.ok(result.opened === 4 || result.opened === 5, `opened: ${result.opened}`);
  assert.deepEqual(result.latency, { p50: 0, p90: 0, p99: 0, max: 0 });
});

Deno.test("runLoad() counts a reply nobody asked for as an error", async () => {
  // 1..1: the first reply is a valid round trip, the second one is extra.
  await using server = fakeServer((n) => n === 0 ? "1\n1\n" : undefined);
  const controller = new AbortController();
  const done = server.when(() => server.closed === 1);
  done.then(() => controller.abort());
  const result = await runLoad({
    port: server.port,
    connections: 1,
    range: 1,
    duration: BOUND,
    signal: controller.signal,
  });
  await done;
  assert.equal(result.roundTrips, 1);
  assert.equal(result.errors, 1);
  assert.equal(result.firstError, "ProtocolError: Server sent more replies than asked for");
});

Deno.test("runLoad() counts a game longer than its range as an error", async () => {
  // Always guessing 1 over 1..2 never ends a game whose secret is 2; a game whose
  // secret is 1 ends at once and the next one starts. Either way: one error at most
  // two round trips after a game with secret 2 starts.
  await using server = fakeServer((n) => n < 50 ? "1\n" : undefined);
  const controller = new AbortController();
  const done = server.when(() => server.closed === 1 || server.replies === 50);
  done.then(() => controller.abort());
  const result = await runLoad({
    port: server.port,
    connections: 1,
    range: 2,
    duration: BOUND,
    signal: controller.signal,
  });
  await done;
  assert.equal(result.errors, 1);
  assert.equal(result.firstError, "ProtocolError: Game over 1..2 not solved in 2 guesses");
  assert.equal(result.roundTrips, result.games + 2);
});

Deno.test("runLoad() counts refused connections as errors", async () => {
  const result = await runLoad({ port: closedPort(), connections: 2, duration: 200 });
  assert.ok(result.errors >= 2, `errors: ${result.errors}`);
  assert.match(result.firstError ?? "", /^ConnectionRefused/);
  assert.equal(result.roundTrips, 0);
  assert.equal(result.opened, 0);
});

/**
 * Runs a load against our server until the server saw `reports` REPORT lines
 * (or, with `kind` "start", that many games started): an event, not a duration.
 */
async function againstServe(
  options: Omit<Parameters<typeof runLoad>[0], "port">,
  reports: number,
  kind: "report" | "start" = "report",
): Promise<{ result: LoadResult; reported: number; corrects: number }> {
  const controller = new AbortController();
  let reported = 0;
  let corrects = 0;
  const enough = Promise.withResolvers<void>();
  await using server = serve({
    port: 0,
    onListen: () => {},
    onEvent(event) {
      if (event.type !== kind) return;
      reported++;
      if (event.type === "report" && event.decision === "Correct") corrects++;
      if (reported === reports) enough.resolve();
    },
  });
  enough.promise.then(() => controller.abort());
  const result = await runLoad({
    ...options,
    port: server.addr.port,
    duration: BOUND,
    signal: controller.signal,
  });
  enough.resolve();
  return { result, reported, corrects };
}

Deno.test("runLoad() plays real games against serve() without errors", async () => {
  const { result, reported, corrects } = await againstServe(
    { connections: 4, range: 10 },
    400,
  );
  assert.equal(result.errors, 0, result.firstError);
  assert.equal(result.mode, "game");
  assert.equal(result.peakOpen, 4);
  assert.equal(result.opened, 4);
  // Every REPORT follows a counted round trip; at most one per connection was
  // counted and not yet reported when the run stopped.
  assert.ok(result.roundTrips >= reported, `${result.roundTrips} < ${reported}`);
  assert.ok(result.games >= corrects && corrects > 0, `${result.games} vs ${corrects}`);
  // Games over 1..10 take at most 10 guesses.
  assert.ok(result.roundTrips <= (result.games + 4) * 10);
  assert.ok(result.roundTripsPerSecond > 0 && result.gamesPerSecond > 0);
});

Deno.test("runLoad() pipelines NUMBERs against serve() without errors", async () => {
  // Until the server saw 6 games start: the first 2, then 4 restarts.
  const { result, reported } = await againstServe(
    { connections: 2, range: 20, mode: { type: "pipeline", depth: 8 } },
    6,
    "start",
  );
  assert.ok(reported >= 6);
  assert.equal(result.errors, 0, result.firstError);
  assert.equal(result.mode, "pipeline");
  assert.equal(result.depth, 8);
  assert.equal(result.games, 0);
  // A game over 1..20 in batches of 8 restarts after 16 NUMBERs, before running
  // out; each of the 4 restarts followed 16 counted round trips.
  assert.ok(result.roundTrips >= 4 * 16, `round trips: ${result.roundTrips}`);
});

Deno.test("runLoad() holds idle connections after one exchange each", async () => {
  await using server = serve({ port: 0, onListen: () => {} });
  const result = await runLoad({
    port: server.addr.port,
    connections: 5,
    mode: { type: "idle" },
    duration: 300,
  });
  assert.equal(result.errors, 0, result.firstError);
  assert.equal(result.roundTrips, 5);
  assert.equal(result.peakOpen, 5);
  // Five were open at once, so five were opened (the old "4 or 5" could not be 4).
  assert.equal(result.opened, 5);
});

Deno.test("runLoad() rejects a pipeline deeper than the range", async () => {
  await assert.rejects(
    runLoad({ port: 4321, range: 4, mode: { type: "pipeline", depth: 8 } }),
    { name: "RangeError", message: "Pipeline depth 8 is over the range 4" },
  );
});

Deno.test("main() bench rejects --pipeline with --idle, with exit status 2", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(["bench", "--pipeline", "4", "--idle"], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  assert.equal(status, 2);
  assert.deepEqual(out, []);
  assert.deepEqual(err, [
    "guess: --pipeline and --idle exclude each other\nTry 'guess bench --help'",
  ]);
});

Deno.test("guess bench runs our server in a worker and prints JSON", async () => {
  const { code, stdout, stderr } = await runCli(
    ["bench", "--duration", "1", "--connections", "2", "--range", "10", "--json"],
    { flags: ["--allow-net", "--allow-read"], timeout: 15_000 },
  );
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  const result = JSON.parse(stdout) as LoadResult;
  assert.equal(result.errors, 0);
  assert.equal(result.connections, 2);
  assert.equal(result.range, 10);
  assert.ok(result.roundTrips > 0 && result.games > 0);
  // It ran its whole --duration (a timer, so never less); how much longer the
  // shared machine took is not the behaviour, and the run's own timeout bounds it.
  assert.ok(result.seconds >= 1, `seconds: ${result.seconds}`);
});

Deno.test("guess bench without --allow-read says the worker needs it", async () => {
  const { code, stderr } = await runCli(["bench", "--duration", "1"], {
    flags: ["--allow-net"],
    timeout: 15_000,
  });
  assert.equal(code, 1);
  assert.match(stderr, /Requires read access/);
});

Deno.test("guess bench on Ctrl-C prints what it measured so far, then exits 130", async () => {
  // Sent once the server has seen every connection of the run open and a game start.
  let started!: () => void;
  const running = new Promise<void>((resolve) => started = resolve);
  let games = 0;
  await using server = serve({
    port: 0,
    onEvent: (event) => event.type === "start" && ++games === 4 && started(),
  });
  await using child = spawnCli(
    [
      "bench",
      "--connect",
      `127.0.0.1:${server.addr.port}`,
      "--connections",
      "2",
      "--duration",
      "60",
      "--json",
    ],
    ["--allow-net"],
  );
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  await withTimeout(running, 10_000, "the bench's games to start");
  child.kill("SIGINT");
  const status = await withTimeout(child.status, 10_000, "bench to exit after SIGINT");
  assert.equal(status.code, 130, await stderr);
  const result: LoadResult = JSON.parse(await stdout);
  assert.ok(result.roundTrips > 0);
  assert.equal(result.errors, 0);
  assert.ok(result.seconds < 60);
  assert.match(await stderr, /Interrupted: the result covers the run until Ctrl-C/);
});
