import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { BisectStrategy } from "../bisect.ts";
import { connect } from "../client.ts";
import { createHandler, parseGameQuery } from "../http.ts";
import { judge } from "../protocol.ts";
import { type GuessServer, serve, type ServeOptions } from "../server.ts";
import {
  decode,
  MAIN_PATH,
  readLines,
  readStreamUntil,
  readToEnd,
  readUntil,
  WebSocketPeer,
  withTimeout,
  writeText,
} from "./helpers.ts";

/**
 * A server with the HTTP side on port 0, quiet; `idle()` resolves once no
 * connection is open (from the server's close events, no polling).
 */
function start(
  options: ServeOptions = {},
): GuessServer & { base: string; ws: string; idle(): Promise<void> } {
  let waiters: (() => void)[] = [];
  const server = serve({
    port: 0,
    onListen: () => {},
    ...options,
    http: { port: 0, ...options.http },
    onConnection: (event) => {
      if (event.connections > 0) return;
      for (const wake of waiters) wake();
      waiters = [];
    },
  });
  const port = server.httpAddr!.port;
  return Object.assign(server, {
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    idle: () =>
      server.connections === 0
        ? Promise.resolve()
        : withTimeout(new Promise<void>((resolve) => waiters.push(resolve)), 5_000, "closing"),
  });
}

/** How many guesses bisect takes for `secret` in [lower, upper], counting the correct one. */
function bisectGuesses(lower: number, upper: number, secret: number): number {
  const strategy = new BisectStrategy(lower, upper);
  let previous: bigint | undefined;
  for (let guesses = 1;; guesses++) {
    const guess = strategy.next();
    const verdict = judge(secret, guess, previous);
    previous = verdict.distance;
    strategy.report(guess, verdict.decision);
    if (verdict.decision === "Correct") return guesses;
  }
}

/** GET (or another method) and the whole body. */
async function request(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await withTimeout(fetch(url, init), 5_000, `fetching ${url}`);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Sends raw request bytes (for what fetch cannot send) and reads one whole response. */
async function rawRequest(port: number, text: string): Promise<string> {
  using conn = await Deno.connect({ port });
  await writeText(conn, text);
  return await readUntil(conn, (response) => {
    const end = response.indexOf("\r\n\r\n");
    if (end === -1) return false;
    const length = /^content-length: (\d+)$/im.exec(response.slice(0, end));
    return response.length >= end + 4 + Number(length?.[1] ?? 0);
  });
}

function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return lines.join("\r\n") + "\r\n\r\n";
}

Deno.test("GET / serves the page with a CSP that allows no inline script, nosniff, no framing", async () => {
  await using server = start();
  const { status, headers, body } = await request(`${server.base}/`);
  assert.equal(status, 200);
  assert.equal(headers.get("content-type"), "text/html; charset=utf-8");
  const csp = headers.get("content-security-policy")!;
  const port = server.httpAddr!.port;
  for (
    const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      `connect-src 'self' ws://127.0.0.1:${port}`,
      "frame-ancestors 'none'",
    ]
  ) assert.ok(csp.split("; ").includes(directive), `${directive} in ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(headers.get("x-content-type-options"), "nosniff");
  assert.equal(headers.get("referrer-policy"), "no-referrer");
  assert.equal(headers.get("x-frame-options"), "DENY");
  // No inline script, style or handler: the page works under its own CSP.
  assert.doesNotMatch(body, /<script(?![^>]*\ssrc=)[^>]*>/);
  assert.doesNotMatch(body, /\sstyle=|\son[a-z]+=/);
  assert.doesNotMatch(body, /https?:\/\//, "nothing from another site: no CDN");
  assert.match(body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
});

Deno.test("the page's files are served with their types; HEAD gets headers only", async () => {
  await using server = start();
  const files = [
    ["/app.js", "text/javascript; charset=utf-8", /new WebSocket/],
    ["/candidates.js", "text/javascript; charset=utf-8", /export function analyse/],
    ["/style.css", "text/css; charset=utf-8", /prefers-color-scheme: dark/],
    ["/favicon.svg", "image/svg+xml", /<svg/],
  ] as const;
  for (const [path, type, content] of files) {
    const { status, headers, body } = await request(server.base + path);
    assert.equal(status, 200, path);
    assert.equal(headers.get("content-type"), type);
    assert.equal(headers.get("x-content-type-options"), "nosniff");
    assert.match(body, content);
  }
  const head = await request(`${server.base}/`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
});

Deno.test("unknown paths get 404; wrong methods 405 with Allow", async () => {
  await using server = start();
  for (const path of ["/nope", "/index.html", "/web/app.js", "/app.js?x=1", "/metrics/"]) {
    const { status, headers } = await request(server.base + path);
    assert.equal(status, 404, path);
    assert.ok(headers.has("content-security-policy"), "error responses carry the headers too");
  }
  for (const path of ["/", "/metrics", "/healthz", "/app.js"]) {
    const { status, headers } = await request(server.base + path, { method: "POST", body: "" });
    assert.equal(status, 405, path);
    assert.equal(headers.get("allow"), "GET, HEAD");
  }
  const ws = await request(`${server.base}/ws`, { method: "DELETE" });
  assert.equal(ws.status, 405);
  assert.equal(ws.headers.get("allow"), "GET");
  const notUpgrade = await request(`${server.base}/ws`);
  assert.equal(notUpgrade.status, 426);
});

Deno.test("a request body gets 413 and a URL over the limit 414", async () => {
  await using server = start();
  const port = server.httpAddr!.port;
  const withBody = await rawRequest(
    port,
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
  );
  assert.match(withBody, /^HTTP\/1\.1 413 /);
  const long = await request(`${server.base}/?${"x".repeat(2100)}`);
  assert.equal(long.status, 414);
  assert.match(long.body, /^URL too long: the limit is 2048 bytes\n$/);
  const fits = await request(`${server.base}/healthz`);
  assert.equal(fits.status, 200);
});

Deno.test("/healthz is 200 while serving and 503 once shutdown has started; /ws is refused then", async () => {
  await using server = start({ grace: 60_000 });
  const serving = await request(`${server.base}/healthz`);
  assert.equal(serving.status, 200);
  assert.equal(serving.body, "OK\n");
  using conn = await Deno.connect({ port: server.addr.port });
  await writeText(conn, "PARAMS 1 5\nNUMBER\n");
  await readLines(conn, 1);
  const stopped = server.shutdown();
  const draining = await request(`${server.base}/healthz`);
  assert.equal(draining.status, 503);
  assert.equal(draining.body, "Shutting down\n");
  const ws = await rawRequest(server.httpAddr!.port, upgradeRequest("/ws"));
  assert.match(ws, /^HTTP\/1\.1 503 /);
  // The game ends: the drain is over, and the HTTP side stops with the server.
  await writeText(conn, "PARAMS 0 -1\n");
  assert.equal(await readToEnd(conn), "ERROR Server shutting down\n");
  await withTimeout(stopped, 5_000, "the drain");
  await assert.rejects(fetch(`${server.base}/healthz`));
});

Deno.test("/metrics counts connections, games, guesses, errors and bytes as games are played", async () => {
  await using server = start({ strategy: "bisect" });
  const scrape = async () => {
    const { status, headers, body } = await request(`${server.base}/metrics`);
    assert.equal(status, 200);
    assert.equal(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheus(body) as {
      name: string;
      type: string;
      metrics: { value?: string; labels?: Record<string, string> }[];
    }[];
    const value = (name: string, labels: Record<string, string> = {}) => {
      const family = families.find((f) => f.name === name);
      assert.ok(family, `no family ${name}`);
      const series = family.metrics.find((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
      );
      return series === undefined ? 0 : Number(series.value);
    };
    return { body, value };
  };
  const before = await scrape();
  assert.equal(before.value("guess_games_started_total", { strategy: "bisect" }), 0);

  // Two games over TCP with the client: secrets 73 and 2 in 1..100, and a bad line.
  {
    await using client = await connect({ port: server.addr.port });
    for (const secret of [73, 2]) {
      await using game = await client.session(1, 100, secret);
      for await (const n of game.requestNumbers(20)) await game.reportOutcome(n);
    }
  }
  {
    using conn = await Deno.connect({ port: server.addr.port });
    await writeText(conn, "FOO\nNUMBER\nPARAMS 1 10\nNUMBER\n");
    await conn.closeWrite();
    await readToEnd(conn);
  }
  // One game over WebSocket, abandoned, with the random strategy.
  {
    await using peer = await WebSocketPeer.open(`${server.ws}?strategy=random`);
    peer.socket.send("PARAMS 1 100");
    peer.socket.send("NUMBER");
    await peer.until(1);
  }
  await server.idle();
  const after = await scrape();
  const tcp = { transport: "tcp" }, ws = { transport: "websocket" };
  assert.equal(after.value("guess_connections_accepted_total", tcp), 2);
  assert.equal(after.value("guess_connections_accepted_total", ws), 1);
  assert.equal(after.value("guess_connections_open", tcp), 0);
  assert.equal(after.value("guess_games_started_total", { strategy: "bisect" }), 3);
  assert.equal(after.value("guess_games_finished_total", { strategy: "bisect" }), 2);
  assert.equal(after.value("guess_games_abandoned_total", { strategy: "bisect" }), 1);
  assert.equal(after.value("guess_games_started_total", { strategy: "random" }), 1);
  assert.equal(after.value("guess_games_abandoned_total", { strategy: "random" }), 1);
  assert.equal(after.value("guess_protocol_errors_total", { kind: "unknown_command" }), 1);
  assert.equal(after.value("guess_protocol_errors_total", { kind: "no_game" }), 1);
  assert.ok(after.value("guess_received_bytes_total", tcp) > 50);
  assert.ok(after.value("guess_sent_bytes_total", ws) >= 2);
  assert.ok(after.value("guess_uptime_seconds") > 0);
  // The histogram: bisect's guesses for 73 and for 2 in 1..100.
  const sum = bisectGuesses(1, 100, 73) + bisectGuesses(1, 100, 2);
  assert.match(
    after.body,
    new RegExp(`^guess_guesses_per_game_sum\\{strategy="bisect"\\} ${sum}$`, "m"),
  );
  assert.match(after.body, /^guess_guesses_per_game_count\{strategy="bisect"\} 2$/m);
  assert.match(after.body, /^guess_guesses_per_game_bucket\{strategy="bisect",le="\+Inf"\} 2$/m);
  assert.equal(server.metrics.guessesPerGame.count({ strategy: "bisect" }), 2);
});

Deno.test("/ws carries the line protocol: one command per message, one reply line per message", async () => {
  await using server = start({ seed: 7 });
  await using peer = await WebSocketPeer.open(`${server.ws}?strategy=bisect`);
  for (const line of ["PARAMS 1 100", "NUMBER", "REPORT Unsure", "NUMBER", "HELLO", "NUMBER"]) {
    peer.socket.send(line);
  }
  assert.deepEqual(await peer.until(4), [
    "1",
    "50",
    'ERROR Unknown command "HELLO": expected PARAMS, NUMBER or REPORT',
    "50",
  ]);
});

Deno.test("/ws?seed= replays the random strategy's guesses exactly", async () => {
  await using server = start();
  const play = async () => {
    await using peer = await WebSocketPeer.open(`${server.ws}?strategy=random&seed=42`);
    peer.socket.send("PARAMS 1 1000");
    for (let i = 0; i < 5; i++) peer.socket.send("NUMBER");
    return [...await peer.until(5)];
  };
  const first = await play();
  assert.equal(first.length, 5);
  assert.deepEqual(await play(), first);
});

Deno.test("/ws answers a message over the line limit with ERROR Line too long and closes", async () => {
  await using server = start({ maxLineBytes: 32 });
  await using peer = await WebSocketPeer.open(server.ws);
  peer.socket.send("PARAMS 1 5");
  peer.socket.send("NUMBER");
  peer.socket.send("X".repeat(33));
  peer.socket.send("NUMBER");
  const messages = await peer.end();
  assert.equal(messages.length, 2);
  assert.equal(messages[1], "ERROR Line too long: the limit is 32 bytes, closing");
});

Deno.test("/ws takes a message of exactly the line limit", async () => {
  await using server = start({ maxLineBytes: 32 });
  await using peer = await WebSocketPeer.open(server.ws);
  peer.socket.send("NUMBER" + " ".repeat(26));
  assert.deepEqual(await peer.until(1), [
    "ERROR NUMBER takes 0 arguments (NUMBER), got 26",
  ]);
});

Deno.test("/ws answers a binary message with ERROR and closes", async () => {
  await using server = start();
  await using peer = await WebSocketPeer.open(server.ws);
  peer.socket.send("PARAMS 3 3");
  peer.socket.send("NUMBER");
  peer.socket.send(new TextEncoder().encode("NUMBER"));
  assert.deepEqual(await peer.end(), [
    "3",
    "ERROR Binary message: send each command as a text message, closing",
  ]);
});

Deno.test("/ws answers a message holding CR or LF with ERROR and closes", async () => {
  await using server = start();
  for (const message of ["NUMBER\nNUMBER", "NUMBER\n", "NUMBER\r"]) {
    await using peer = await WebSocketPeer.open(server.ws);
    peer.socket.send(message);
    assert.deepEqual(await peer.end(), [
      "ERROR Message holds CR or LF: send one command per message, without a newline, closing",
    ]);
  }
  assert.equal(server.metrics.protocolErrors.get({ kind: "bad_message" }), 3);
});

Deno.test("/ws has the idle timeout of TCP connections", async () => {
  await using server = start({ idleTimeout: 50 });
  await using peer = await WebSocketPeer.open(server.ws);
  assert.deepEqual(await peer.end(), ["ERROR Idle timeout"]);
});

Deno.test("/ws connections count against maxConnections together with TCP ones", async () => {
  await using server = start({ maxConnections: 1 });
  {
    using conn = await Deno.connect({ port: server.addr.port });
    await writeText(conn, "PARAMS 1 1\nNUMBER\n");
    await readLines(conn, 1);
    await using refused = await WebSocketPeer.open(server.ws);
    assert.deepEqual(await refused.end(), ["ERROR Server busy: 1 connection, try again later"]);
  }
  await server.idle();
  await using peer = await WebSocketPeer.open(server.ws);
  peer.socket.send("PARAMS 1 1");
  peer.socket.send("NUMBER");
  assert.deepEqual(await peer.until(1), ["1"]);
  using conn = await Deno.connect({ port: server.addr.port });
  assert.equal(
    await readToEnd(conn),
    "ERROR Server busy: 1 connection, try again later\n",
  );
  assert.equal(server.metrics.connectionsRefused.get({ transport: "websocket" }), 1);
  assert.equal(server.metrics.connectionsRefused.get({ transport: "tcp" }), 1);
});

Deno.test("/ws refuses another site's Origin with 403 unless --http-allow-origin allows it", async () => {
  await using server = start({ http: { allowOrigins: ["https://friend.example"] } });
  const port = server.httpAddr!.port;
  const evil = await rawRequest(port, upgradeRequest("/ws", { Origin: "http://evil.example" }));
  assert.match(evil, /^HTTP\/1\.1 403 /);
  assert.match(evil, /Origin not allowed/);
  const samePortOtherHost = await rawRequest(
    port,
    upgradeRequest("/ws", { Origin: `http://localhost:${port}` }),
  );
  assert.match(samePortOtherHost, /^HTTP\/1\.1 403 /);
  // DNS rebinding: a site's name pointing here, its page the same origin as the Host.
  const rebound = await rawRequest(
    port,
    upgradeRequest("/ws", { Origin: "http://evil.example" }).replace(
      "Host: 127.0.0.1",
      "Host: evil.example",
    ),
  );
  assert.match(rebound, /^HTTP\/1\.1 403 /);
  for (
    const [origin, host] of [
      ["https://friend.example", "127.0.0.1"],
      ["http://127.0.0.1", "127.0.0.1"],
      [`http://localhost:${port}`, `localhost:${port}`],
    ]
  ) {
    using conn = await Deno.connect({ port });
    await writeText(
      conn,
      upgradeRequest("/ws", { Origin: origin }).replace("Host: 127.0.0.1", `Host: ${host}`),
    );
    const head = await readStreamUntil(conn.readable.getReader(), (t) => t.includes("\r\n\r\n"));
    assert.match(head, /^HTTP\/1\.1 101 /, origin);
  }
});

Deno.test("/ws refuses unknown strategies, bad seeds and unknown parameters with 400", async () => {
  await using server = start();
  for (
    const query of [
      "strategy=smart",
      "seed=-1",
      "seed=4294967296",
      "seed=1e3",
      "x=1",
      "seed=1&seed=2",
    ]
  ) {
    const response = await rawRequest(server.httpAddr!.port, upgradeRequest(`/ws?${query}`));
    assert.match(response, /^HTTP\/1\.1 400 /, query);
  }
  assert.deepEqual(parseGameQuery(new URLSearchParams("strategy=random&seed=4294967295")), {
    type: "ok",
    game: { strategy: "random", seed: 4294967295 },
  });
});

Deno.test("createHandler() answers the page with 503 while the connection limit is reached", async () => {
  const handler = createHandler({}, {
    metrics: () => "",
    healthy: () => true,
    capacity: () => 0,
    adopt: () => assert.fail("no upgrade"),
  });
  assert.equal((await handler(new Request("http://127.0.0.1/"))).status, 503);
  assert.equal((await handler(new Request("http://127.0.0.1/healthz"))).status, 200);
  assert.equal((await handler(new Request("http://127.0.0.1/metrics"))).status, 200);
});

Deno.test("createHandler() answers /healthz 503 Starting while the hooks say starting, then 200", async () => {
  let starting = true;
  const handler = createHandler({}, {
    metrics: () => "",
    healthy: () => true,
    starting: () => starting,
    capacity: () => 10,
    adopt: () => assert.fail("no upgrade"),
  });
  const before = await handler(new Request("http://127.0.0.1/healthz"));
  assert.equal(before.status, 503);
  assert.equal(await before.text(), "Starting\n");
  starting = false;
  const after = await handler(new Request("http://127.0.0.1/healthz"));
  assert.equal(after.status, 200);
  assert.equal(await after.text(), "OK\n");
});

Deno.test("serve() with an HTTP port in use throws and leaks no listener or timer", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  assert.throws(
    () => serve({ port: 0, onListen: () => {}, http: { port } }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("serve --http 127.0.0.1:0 serves the page from another directory with only --allow-net", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "guess-cwd-" });
  try {
    await using child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-net",
        MAIN_PATH,
        "serve",
        "--port",
        "0",
        "--http",
        "127.0.0.1:0",
      ],
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stderr = child.stderr.getReader();
    try {
      const log = await readStreamUntil(stderr, (text) => /HTTP on \S+\n/.test(text), 10_000);
      const port = Number(/^\S+Z HTTP on 127\.0\.0\.1:(\d+)$/m.exec(log)![1]);
      const page = await request(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(page.body, /<title>Guess/);
      const script = await request(`http://127.0.0.1:${port}/app.js`);
      assert.equal(script.status, 200);
      child.kill("SIGTERM");
      assert.equal((await withTimeout(child.status, 5_000, "serve exiting")).code, 0);
      await readStreamUntil(stderr, () => false);
    } finally {
      stderr.releaseLock();
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("serve --http rejects a bad address and --http-allow-origin without --http", async () => {
  const run = async (args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", MAIN_PATH, "serve", ...args],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    return { code: output.code, stderr: decode(output.stderr) };
  };
  const bad = await run(["--http", "localhost:"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^guess: --http needs \[HOST:\]PORT, got "localhost:"\n/);
  const origin = await run(["--http-allow-origin", "https://a.example"]);
  assert.equal(origin.code, 2);
  assert.match(origin.stderr, /--http-allow-origin needs --http/);
  const notOrigin = await run(["--http", "0", "--http-allow-origin", "https://a.example/path"]);
  assert.equal(notOrigin.code, 2);
  assert.match(notOrigin.stderr, /Not an origin/);
});
