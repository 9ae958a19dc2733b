import assert from "node:assert/strict";
import { Gate } from "../gate.ts";
import { judge } from "../protocol.ts";
import { serve } from "../server.ts";
import { encode, readUntil, withTimeout, writeText } from "./helpers.ts";

const LOCAL = "127.0.0.1";
/** Connections at once in the load tests: 2 fds each (client and server) stays under 4096. */
const MANY = 1000;
/** Not a latency bound: only a guard against a test that hangs. */
const REPLY_TIMEOUT = 30_000;

Deno.test("Gate releases everyone waiting together after a round with no activity", async () => {
  await using gate = await Gate.open();
  const seen: string[] = [];
  const first = gate.pass().then(() => seen.push(`first after ${gate.rounds}`));
  // Joins the wait of the round in flight: released with the first.
  const second = gate.pass().then(() => seen.push(`second after ${gate.rounds}`));
  await Promise.all([first, second]);
  assert.deepEqual(seen, ["first after 1", "second after 1"]);
  // A later caller starts a new round.
  await gate.pass();
  assert.equal(gate.rounds, 2);
});

/**
 * How many rounds one waiter is held: `reads` reads pending when it passes,
 * then `during` happens while round 1 is in flight.
 */
const ROUND_CASES: readonly {
  what: string;
  reads: number;
  during: (gate: Gate) => void;
  rounds: number;
}[] = [
  // Round 1 saw activity and a read is still pending; round 2 saw none: released after 2.
  {
    what: "a read completes while another is pending",
    reads: 2,
    during: (g) => g.endRead(),
    rounds: 2,
  },
  {
    what: "an accept completes while a read is pending",
    reads: 1,
    during: (g) => g.activity(),
    rounds: 2,
  },
  // Activity, but no read pending any more: nobody can be left unserved.
  { what: "the only pending read completes", reads: 1, during: (g) => g.endRead(), rounds: 1 },
  {
    what: "an accept completes and no read is pending",
    reads: 0,
    during: (g) => g.activity(),
    rounds: 1,
  },
];

for (const { what, reads, during, rounds } of ROUND_CASES) {
  Deno.test(`Gate releases its waiter after ${rounds} round(s) when ${what} during round 1`, async () => {
    await using gate = await Gate.open();
    for (let i = 0; i < reads; i++) gate.startRead();
    const passing = gate.pass();
    during(gate);
    await passing;
    assert.equal(gate.rounds, rounds);
  });
}

Deno.test("Gate.close() releases waiters, leaves no socket or op behind and stays open", async () => {
  const gate = await Gate.open();
  const waiting = gate.pass();
  const next = gate.pass();
  await gate.close();
  await Promise.all([waiting, next]);
  await gate.pass();
  await gate.close(); // Idempotent.
  // The test sanitizers fail this test if either socket or the read outlived close().
});

Deno.test("Gate holds a bounded number of rounds while activity never stops", async () => {
  await using gate = await Gate.open();
  // A busy socket pair: each byte read is activity, as a connection that never rests makes.
  using listener = Deno.listen({ hostname: LOCAL, port: 0 });
  using writer = await Deno.connect({ hostname: LOCAL, port: listener.addr.port });
  using reader = await listener.accept();
  const byte = new Uint8Array(1);
  let holding = true;
  // An idle connection's read stays pending throughout: the activity alone decides.
  gate.startRead();
  const passing = gate.pass().then(() => holding = false);
  // It stops by itself after 5000 reads, so that a gate without the bound fails below instead of
  // hanging (measured: without it, the release came after 5001 rounds, when the reads stopped).
  let reads = 0;
  for (; holding && reads < 5000; reads++) {
    // Read first, then write, so that each read waits for epoll like the gate's own.
    const reading = reader.read(byte);
    await writer.write(byte);
    await reading;
    gate.activity();
  }
  await passing;
  // One waiter: at most 16 + ceil(1 / 32) = 17 holds, so 18 rounds.
  // (How many rounds see a read depends on how the two sockets' reads interleave; the holding
  // itself is the test above.)
  assert.ok(gate.rounds <= 18, `released after ${gate.rounds} rounds, ${reads} reads`);
  assert.ok(reads < 5000, "released while the activity went on");
  gate.endRead();
});

async function dial(port: number): Promise<Deno.TcpConn> {
  const conn = await withTimeout(Deno.connect({ hostname: LOCAL, port }), 10_000, "connecting");
  conn.setNoDelay(true);
  return conn;
}

/** Plays one game over 1..20 to Correct, judging every guess; returns the guesses. */
async function playGame(conn: Deno.TcpConn, secret: number): Promise<number> {
  await writeText(conn, "PARAMS 1 20\nNUMBER\n");
  let previous: bigint | undefined;
  for (let guesses = 1;; guesses++) {
    const reply = await readUntil(conn, (text) => text.endsWith("\n"), REPLY_TIMEOUT);
    const guess = Number(reply);
    assert.ok(Number.isInteger(guess) && guess >= 1 && guess <= 20, `reply ${reply}`);
    const verdict = judge(secret, guess, previous);
    previous = verdict.distance;
    if (verdict.decision === "Correct") {
      await writeText(conn, "REPORT Correct\n");
      return guesses;
    }
    assert.ok(guesses < 20, "a game over 1..20 takes at most 20 guesses");
    await writeText(conn, `REPORT ${verdict.decision}\nNUMBER\n`);
  }
}

Deno.test(`serve() with the gate plays ${MANY} games at once to the end, every reply valid`, async () => {
  await using server = serve({ port: 0 });
  const results = await withTimeout(
    Promise.all(Array.from({ length: MANY }, async (_, i) => {
      using conn = await dial(server.addr.port);
      return await playGame(conn, 1 + (i % 20));
    })),
    60_000,
    "playing",
  );
  assert.equal(results.length, MANY);
  assert.ok(results.every((guesses) => guesses >= 1 && guesses <= 20));
});

Deno.test(`serve() with the gate answers ${MANY} pipelined connections, 16 NUMBERs each`, async () => {
  await using server = serve({ port: 0 });
  const replies = await withTimeout(
    Promise.all(Array.from({ length: MANY }, async () => {
      using conn = await dial(server.addr.port);
      await conn.write(encode("PARAMS 1 16\n" + "NUMBER\n".repeat(16)));
      const text = await readUntil(conn, (got) => got.split("\n").length > 16, REPLY_TIMEOUT);
      return text.trim().split("\n").map(Number);
    })),
    60_000,
    "pipelining",
  );
  for (const numbers of replies) {
    // The random strategy guesses every value once: 16 NUMBERs over 1..16 are a permutation.
    assert.deepEqual(
      numbers.toSorted((a, b) => a - b),
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
  }
});

Deno.test("serve() with fairness off still serves, and shuts down cleanly either way", async () => {
  for (const fairness of [false, true]) {
    await using server = serve({ port: 0, fairness });
    using conn = await dial(server.addr.port);
    await writeText(conn, "PARAMS 7 7\nNUMBER\n");
    assert.equal(await readUntil(conn, (text) => text.endsWith("\n")), "7\n");
  }
});
