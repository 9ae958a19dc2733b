// The game page: a client of the guess line protocol over a WebSocket, one
// line per text message (PROTOCOL.md). The person keeps the secret; the server
// guesses. Plain JavaScript, served as is: no build step, no dependencies.
//
// The protocol has no undo, so undoing an answer replays the game on a fresh
// connection: PARAMS, then NUMBER and REPORT for each answer kept. Both
// strategies replay exactly: bisect is deterministic and random is seeded per
// game through /ws?seed=.
import { analyse, describe, listOf } from "./candidates.js";

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
