/**
 * The protocol core under the C client's traffic (bench/epoll_client.c): games
 * over 1..100, one read per round trip, the server's part only. Run with
 * `deno bench bench/micro/game_bench.ts`.
 *
 * @module
 */
import { ServerConnection } from "../../protocol.ts";
import { Rng } from "../../strategy.ts";
import { ServerMetrics } from "../../metrics.ts";

const encoder = new TextEncoder();
const START = encoder.encode("PARAMS 1 100\nNUMBER\n");
const AGAIN = encoder.encode("REPORT Correct\nPARAMS 0 -1\nPARAMS 1 100\nNUMBER\n");
const STEPS = {
  Warmer: encoder.encode("REPORT Warmer\nNUMBER\n"),
  Colder: encoder.encode("REPORT Colder\nNUMBER\n"),
  Unsure: encoder.encode("REPORT Unsure\nNUMBER\n"),
};
const ROUND_TRIPS = 1000;

/** Plays ROUND_TRIPS round trips against `feed`, judging like the C client. */
function play(feed: (bytes: Uint8Array) => Uint8Array, seed: number): number {
  let secret = 1 + (seed % 100), previous = -1, checksum = 0;
  let reply = feed(START);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    let guess = 0;
    for (let k = 0; k < reply.length - 1; k++) guess = guess * 10 + reply[k] - 48;
    checksum += guess;
    const d = Math.abs(guess - secret);
    if (d === 0) {
      secret = 1 + ((secret * 37 + 11) % 100);
      previous = -1;
      reply = feed(AGAIN);
      continue;
    }
    const decision = previous < 0 || d === previous ? "Unsure" : d < previous ? "Warmer" : "Colder";
    previous = d;
    reply = feed(STEPS[decision]);
  }
  return checksum;
}

const metrics = new ServerMetrics();
const started = metrics.gamesStarted.bind({ strategy: "random" });
const finished = metrics.gamesFinished.bind({ strategy: "random" });
let n = 0;

Deno.bench("core, no events", { group: "game", baseline: true }, () => {
  const core = new ServerConnection({ rng: new Rng(++n) });
  play((bytes) => core.feedBytes(bytes).output, n);
});

Deno.bench("core, events counted", { group: "game" }, () => {
  const core: ServerConnection = new ServerConnection({
    rng: new Rng(++n),
    onEvent: (event) => {
      if (event.type === "start") started.inc();
      else if (event.type === "report" && event.decision === "Correct") {
        finished.inc();
        metrics.guessesPerGame.observe(core.guesses, { strategy: "random" });
      }
    },
  });
  play((bytes) => core.feedBytes(bytes).output, n);
});
