// The game page: a client of the guess line protocol over a WebSocket, one
// line per text message (PROTOCOL.md). The person keeps the secret; the server
// guesses. Plain JavaScript, served as is: no build step, no dependencies.
//
// The protocol has no undo, so undoing an answer replays the game on a fresh
// connection: PARAMS, then NUMBER and REPORT for each answer kept. Both
// strategies replay exactly: bisect is deterministic and random is seeded per
// game through /ws?seed=.
"use strict";

const KEYS = { w: "Warmer", c: "Colder", u: "Unsure", y: "Correct" };
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const $ = (id) => document.getElementById(id);
const ui = {
  setup: $("setup"),
  lower: $("lower"),
  upper: $("upper"),
  strategy: $("strategy"),
  status: $("status"),
  guess: $("guess"),
  question: $("question"),
  answers: [...document.querySelectorAll("#answers button")],
  message: $("message"),
  undo: $("undo"),
  history: $("history"),
};

// ---------------------------------------------------------------------------
// What the answers say, worked out here the way bisect.ts tracks candidates:
// each answer is a constraint on the secret (an interval, and "not this guess"
// unless it was Correct); the candidates are their intersection. Exact in
// bigint over the whole safe range.

/** The constraint of answer `i` of `history` ({guess, decision} items). */
function constraintOf(history, i) {
  const guess = BigInt(history[i].guess);
  const decision = history[i].decision;
  const previous = i > 0 ? BigInt(history[i - 1].guess) : undefined;
  const compared = previous !== undefined && previous !== guess;
  if (decision === "Correct") return { lo: guess, hi: guess, hole: undefined };
  const twice = compared ? previous + guess : 0n;
  if (decision === "Unsure") {
    if (!compared) return { lo: undefined, hi: undefined, hole: guess };
    // Just as far from both guesses: only their midpoint, if it is whole.
    if (twice % 2n !== 0n) return { lo: 1n, hi: 0n, hole: guess };
    return { lo: twice / 2n, hi: twice / 2n, hole: guess };
  }
  if (!compared) return { lo: 1n, hi: 0n, hole: guess }; // nothing to compare with
  // Closer to the later guess: on its side of the midpoint, strictly.
  if ((guess > previous) === (decision === "Warmer")) {
    return { lo: (twice >> 1n) + 1n, hi: undefined, hole: guess };
  }
  return { lo: undefined, hi: -(-twice >> 1n) - 1n, hole: guess };
}

/** How many numbers of [lower, upper] fit every constraint of `indexes`. */
function countFitting(lower, upper, constraints, indexes) {
  let lo = lower, hi = upper;
  for (const i of indexes) {
    const c = constraints[i];
    if (c.lo !== undefined && c.lo > lo) lo = c.lo;
    if (c.hi !== undefined && c.hi < hi) hi = c.hi;
  }
  if (lo > hi) return 0n;
  const holes = new Set();
  for (const i of indexes) {
    const hole = constraints[i].hole;
    if (hole !== undefined && hole >= lo && hole <= hi) holes.add(hole);
  }
  return hi - lo + 1n - BigInt(holes.size);
}

/**
 * The numbers still possible after the answers, and when none is, a smallest
 * set of answers that already contradict each other (indexes into history).
 */
function analyse(lower, upper, history) {
  const constraints = history.map((_, i) => constraintOf(history, i));
  const all = constraints.map((_, i) => i);
  const count = countFitting(lower, upper, constraints, all);
  if (count > 0n) return { count, conflict: [] };
  // The first answer after which nothing fits, then drop every earlier answer
  // the contradiction does not need.
  let last = 0;
  while (countFitting(lower, upper, constraints, all.slice(0, last + 1)) > 0n) last++;
  let kept = all.slice(0, last + 1);
  for (let i = 0; i < last; i++) {
    const without = kept.filter((j) => j !== i);
    if (countFitting(lower, upper, constraints, without) === 0n) kept = without;
  }
  return { count, conflict: kept };
}

/** One answer in words, e.g. "75 is warmer than 50". */
function describe(history, i) {
  const { guess, decision } = history[i];
  const previous = i > 0 ? history[i - 1].guess : undefined;
  switch (decision) {
    case "Correct":
      return `${guess} is your number`;
    case "Unsure":
      return previous === undefined || previous === guess
        ? `${guess} is not it`
        : `${guess} is just as far as ${previous}`;
    case "Warmer":
      return `${guess} is warmer than ${previous}`;
    case "Colder":
      return `${guess} is colder than ${previous}`;
    default:
      throw new RangeError(`Unknown decision ${decision}`);
  }
}

function listOf(items) {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

// ---------------------------------------------------------------------------
// The connection: one WebSocket per game (a replay opens a new one).

class Line {
  /** Opens /ws for a game; resolves once open. */
  static open(strategy, seed) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ strategy });
    if (seed !== undefined) query.set("seed", String(seed));
    const socket = new WebSocket(`${scheme}//${location.host}/ws?${query}`);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new Line(socket));
      socket.onerror = () => reject(new Error("Cannot connect to the server"));
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.waiting = [];
    this.closed = false;
    this.lastError = "";
    socket.onmessage = (event) => {
      const line = String(event.data);
      if (line.startsWith("ERROR ")) this.lastError = line.slice(6);
      const next = this.waiting.shift();
      if (next) next.resolve(line);
    };
    socket.onclose = () => {
      this.closed = true;
      const why = this.lastError || "the connection was closed";
      for (const next of this.waiting.splice(0)) next.reject(new Error(why));
    };
  }

  send(line) {
    if (this.closed) throw new Error(this.lastError || "The connection was closed");
    this.socket.send(line);
  }

  /** Sends a line that gets one reply line (NUMBER); resolves with the reply. */
  request(line) {
    const reply = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.send(line);
    return reply;
  }

  /** The server's next guess, or the server's error as an exception. */
  async number() {
    const reply = await this.request("NUMBER");
    if (reply.startsWith("ERROR ")) throw new ServerError(reply.slice(6));
    if (!/^-?[0-9]+$/.test(reply)) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
    return Number(reply);
  }

  close() {
    this.closed = true;
    try {
      this.socket.close(1000);
    } catch {
      // Already closing.
    }
  }
}

class ServerError extends Error {
  constructor(message) {
    super(message);
    this.name = "ServerError";
  }
}

// ---------------------------------------------------------------------------
// The game.

const game = {
  lower: 1n,
  upper: 100n,
  strategy: "bisect",
  seed: undefined,
  /** The answers so far: {guess, decision}. */
  history: [],
  /** The guess waiting for an answer. */
  current: undefined,
  /** "idle", "busy", "asking", "won", "contradiction" or "failed". */
  state: "idle",
  line: undefined,
};

function setState(state) {
  game.state = state;
  document.body.dataset.state = state;
  render();
}

function say(text, tone = "") {
  ui.message.textContent = text;
  ui.message.className = tone;
}

function render() {
  const asking = game.state === "asking";
  for (const button of ui.answers) button.disabled = !asking;
  ui.undo.disabled = game.state === "busy" || game.history.length === 0;
  ui.guess.textContent = game.current === undefined ? "?" : String(game.current);
  const { count, conflict } = analyse(game.lower, game.upper, game.history);
  ui.history.replaceChildren(...game.history.map((entry, i) => {
    const item = document.createElement("li");
    item.textContent = `${entry.guess}: ${entry.decision}`;
    if (conflict.includes(i)) item.className = "conflict";
    return item;
  }));
  const n = game.history.length + (asking ? 1 : 0);
  if (game.state === "idle") ui.status.textContent = "Press New game to start.";
  else {
    ui.status.textContent = `Guess ${n}, ${count} number${count === 1n ? "" : "s"} still possible`;
  }
  ui.question.hidden = !asking;
}

function readBound(input, what) {
  const text = input.value.trim();
  const ok = /^-?[0-9]{1,16}$/.test(text) && BigInt(text) >= MIN_SAFE && BigInt(text) <= MAX_SAFE;
  input.setAttribute("aria-invalid", ok ? "false" : "true");
  if (!ok) throw new RangeError(`${what} must be a whole number within ±${MAX_SAFE}`);
  return BigInt(text);
}

/** Plays the game's answers again on a fresh connection, then asks for the next guess. */
async function replay() {
  setState("busy");
  game.line?.close();
  game.current = undefined;
  let line;
  try {
    line = game.line = await Line.open(game.strategy, game.seed);
    line.send(`PARAMS ${game.lower} ${game.upper}`);
    for (const entry of game.history) {
      const guess = await line.number();
      if (guess !== entry.guess) {
        throw new Error(`The server guessed ${guess} instead of ${entry.guess} in the replay`);
      }
      line.send(`REPORT ${entry.decision}`);
    }
  } catch (error) {
    fail(error);
    return;
  }
  await afterAnswer(line);
}

/** After the answers so far are sent: finish, point out a contradiction, or ask for the next guess. */
async function afterAnswer(line) {
  const { conflict } = analyse(game.lower, game.upper, game.history);
  if (conflict.length > 0) {
    game.current = undefined;
    const which = conflict.map((i) => `#${i + 1} (${describe(game.history, i)})`);
    const them = conflict.length === 1 ? "it" : conflict.length === 2 ? "both" : "them all";
    say(
      `Your answers contradict each other: ${listOf(which)}: no number from ${game.lower} to ` +
        `${game.upper} fits ${them}. Undo an answer, or start a new game.`,
      "bad",
    );
    setState("contradiction");
    return;
  }
  const last = game.history[game.history.length - 1];
  if (last?.decision === "Correct") {
    const n = game.history.length;
    game.current = last.guess;
    say(`Got it: ${last.guess}, in ${n} guess${n === 1 ? "" : "es"}`, "good");
    line.send("PARAMS 0 -1");
    setState("won");
    return;
  }
  try {
    game.current = await line.number();
  } catch (error) {
    fail(error);
    return;
  }
  say(game.history.length === 0 ? "My first guess: it can only be unsure, or yes." : "");
  setState("asking");
}

function fail(error) {
  game.current = undefined;
  const text = error instanceof Error ? error.message : String(error);
  say(`${error instanceof ServerError ? "The server says" : "Problem"}: ${text}`, "bad");
  setState("failed");
}

async function answer(decision) {
  if (game.state !== "asking") return;
  const guess = game.current;
  const previous = game.history[game.history.length - 1]?.guess;
  if (decision === "Warmer" || decision === "Colder") {
    if (previous === undefined) {
      say("That is my first guess, there is nothing to compare it with: answer u, or y", "bad");
      return;
    }
    if (previous === guess) {
      say(
        `I guessed ${guess} again, just as far as before: answer u, or y if it is your number`,
        "bad",
      );
      return;
    }
  }
  game.history.push({ guess, decision });
  const line = game.line;
  if (line === undefined || line.closed) {
    // E.g. the server's idle timeout closed it: replay on a new one.
    await replay();
    return;
  }
  setState("busy");
  try {
    line.send(`REPORT ${decision}`);
  } catch {
    await replay();
    return;
  }
  await afterAnswer(line);
}

async function undo() {
  if (game.state === "busy" || game.history.length === 0) return;
  game.history.pop();
  say("");
  await replay();
}

async function newGame() {
  if (game.state === "busy") return;
  try {
    game.lower = readBound(ui.lower, "The lower bound");
    game.upper = readBound(ui.upper, "The upper bound");
    if (game.lower > game.upper) throw new RangeError("The lower bound must not exceed the upper");
  } catch (error) {
    say(error.message, "bad");
    return;
  }
  game.strategy = ui.strategy.value;
  game.seed = crypto.getRandomValues(new Uint32Array(1))[0];
  game.history = [];
  say("");
  // Out of the form, so that the next keys are answers.
  document.getElementById("game").focus();
  await replay();
}

ui.setup.addEventListener("submit", (event) => {
  event.preventDefault();
  newGame();
});
for (const button of ui.answers) {
  button.addEventListener("click", () => answer(button.dataset.decision));
}
ui.undo.addEventListener("click", () => undo());
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
  const key = event.key.toLowerCase();
  if (Object.hasOwn(KEYS, key)) answer(KEYS[key]);
  else if (key === "z" || key === "backspace") undo();
  else if (key === "n") newGame();
  else return;
  event.preventDefault();
});

setState("idle");
