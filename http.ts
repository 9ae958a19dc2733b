/**
 * The HTTP side of `serve --http`: one small module over `Deno.serve`, no
 * framework. It serves the game page and its files (embedded in the program
 * as text imports, so it works from any directory and in `deno compile`),
 * `GET /ws` (a WebSocket that carries the line protocol, handed to the game
 * server), `GET /metrics` (Prometheus text) and `GET /healthz`. Anything else
 * is 404, a wrong method 405 with `Allow`; request bodies and long URLs are
 * refused, and so is the page while the shared connection limit is reached. Every response has
 * the security headers of {@linkcode securityHeaders}.
 *
 * The game itself is not here: {@linkcode HttpHooks} connect this module to
 * `server.ts`, which owns the connections (with workers, to `workers.ts`,
 * which also gathers the workers' metrics).
 *
 * @module
 */

import { isStrategyName, STRATEGIES, type StrategyName } from "./strategies.ts";
import html from "./web/index.html" with { type: "text" };
import script from "./web/app.js" with { type: "text" };
import candidates from "./web/candidates.js" with { type: "text" };
import style from "./web/style.css" with { type: "text" };
import icon from "./web/favicon.svg" with { type: "text" };

/**
 * The defaults of the HTTP side.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HTTP_DEFAULTS } from "./http.ts";
 * assert.equal(HTTP_DEFAULTS.hostname, "127.0.0.1");
 * ```
 */
export const HTTP_DEFAULTS: Readonly<{ hostname: string; port: number; maxUrlBytes: number }> =
  Object.freeze({ hostname: "127.0.0.1", port: 8080, maxUrlBytes: 2048 });

/**
 * Options of the HTTP side (`serve({ http: { … } })`).
 *
 * @example
 * ```ts
 * import type { HttpOptions } from "./http.ts";
 * const options: HttpOptions = { port: 0, allowOrigins: ["https://example.org"] };
 * ```
 */
export interface HttpOptions {
  /**
   * The address to listen on.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 picks any free one.
   * @default {8080}
   */
  port?: number;
  /**
   * Origins (`scheme://host[:port]`) besides the page's own whose pages may
   * open `/ws`; a WebSocket request from any other origin gets 403. The
   * page's own origin is let in by itself only when its host is an IP address
   * or `localhost`; a page served under a name (`http://box.example:8080`)
   * needs that origin here, which guards against DNS rebinding.
   * @default {[]}
   */
  allowOrigins?: readonly string[];
  /**
   * The longest request target (path and query), in bytes; a longer one gets 414.
   * @default {2048}
   */
  maxUrlBytes?: number;
  /** Called once the HTTP side listens, with its real address. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * A game over WebSocket, as the page asks for it in the query of `/ws`.
 *
 * @example
 * ```ts
 * import type { WebSocketGame } from "./http.ts";
 * const game: WebSocketGame = { strategy: "bisect" };
 * ```
 */
export interface WebSocketGame {
  /** `?strategy=`: how the server guesses; the server's own strategy when absent. */
  readonly strategy?: StrategyName;
  /** `?seed=`: the connection's seed (0 to 4294967295), to replay a game. */
  readonly seed?: number;
}

/**
 * What the HTTP side needs from the game server.
 *
 * @example
 * ```ts
 * import type { HttpHooks } from "./http.ts";
 * const hooks: HttpHooks = {
 *   metrics: () => "",
 *   healthy: () => true,
 *   capacity: () => 10,
 *   adopt: (socket) => socket.close(),
 * };
 * ```
 */
export interface HttpHooks {
  /** The text of `/metrics`, or a promise of it (the workers' metrics come by message). */
  metrics(): string | Promise<string>;
  /** False once shutdown has started: `/healthz` answers 503, `/ws` is refused. */
  healthy(): boolean;
  /**
   * True while the game port is not yet served everywhere (workers still
   * starting): `/healthz` answers 503 `Starting`, so that a balancer waits.
   */
  starting?(): boolean;
  /** How many more connections the shared limit allows now (`maxConnections` minus the open ones). */
  capacity(): number;
  /** Takes over an upgraded WebSocket as a game connection (it may refuse it with `ERROR`). */
  adopt(socket: WebSocket, game: WebSocketGame, remote: string): void;
  /** Called with every response's status, e.g. to count requests. */
  onResponse?(status: number): void;
}

/**
 * The running HTTP side.
 *
 * @example
 * ```ts ignore
 * import { startHttp } from "./http.ts";
 * const http = startHttp({ port: 0 }, hooks);
 * await http.shutdown();
 * ```
 */
export interface HttpSide {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Stops listening and waits for requests in flight (not for WebSockets: those are game connections). */
  shutdown(): Promise<void>;
}

interface Asset {
  readonly type: string;
  readonly body: string;
}

/** The page's files, by path. */
const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/", { type: "text/html; charset=utf-8", body: html }],
  ["/app.js", { type: "text/javascript; charset=utf-8", body: script }],
  ["/candidates.js", { type: "text/javascript; charset=utf-8", body: candidates }],
  ["/style.css", { type: "text/css; charset=utf-8", body: style }],
  ["/favicon.svg", { type: "image/svg+xml", body: icon }],
]);

const HOST = /^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/;

/**
 * The headers every response carries: a Content-Security-Policy that allows
 * only the page's own files (no inline script or style, no framing), WebSocket
 * connections to the same host, and no sniffing, no referrer.
 *
 * @param host The request's `host[:port]`, for the `ws:` source.
 * @returns The headers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { securityHeaders } from "./http.ts";
 * const headers = securityHeaders("127.0.0.1:8080");
 * assert.match(headers.get("content-security-policy")!, /connect-src 'self' ws:\/\/127\.0\.0\.1:8080/);
 * ```
 */
export function securityHeaders(host: string): Headers {
  const connect = HOST.test(host) ? `'self' ws://${host}` : "'self'";
  return new Headers({
    "content-security-policy": [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      `connect-src ${connect}`,
      "img-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
  });
}

/**
 * Reads the game options from the query of `/ws`.
 *
 * @param query The URL's search parameters.
 * @returns The options, or the reason they are refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGameQuery } from "./http.ts";
 * assert.deepEqual(parseGameQuery(new URLSearchParams("strategy=bisect")), {
 *   type: "ok",
 *   game: { strategy: "bisect" },
 * });
 * ```
 */
export function parseGameQuery(
  query: URLSearchParams,
):
  | { readonly type: "ok"; readonly game: WebSocketGame }
  | { readonly type: "bad"; readonly reason: string } {
  let strategy: StrategyName | undefined;
  let seed: number | undefined;
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (seen.has(name)) return { type: "bad", reason: "Each query parameter at most once" };
    seen.add(name);
    if (name === "strategy") {
      if (!isStrategyName(value)) {
        return { type: "bad", reason: `Unknown strategy: expected ${STRATEGIES.join(" or ")}` };
      }
      strategy = value;
    } else if (name === "seed") {
      if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xffff_ffff) {
        return { type: "bad", reason: "Seed must be an integer from 0 to 4294967295" };
      }
      seed = Number(value);
    } else {
      return { type: "bad", reason: "Unknown query parameter: expected strategy or seed" };
    }
  }
  const game: { strategy?: StrategyName; seed?: number } = {};
  if (strategy !== undefined) game.strategy = strategy;
  if (seed !== undefined) game.seed = seed;
  return { type: "ok", game };
}

/**
 * Checks an `--http-allow-origin` value: `http` or `https`, a host, an
 * optional port, nothing else (as browsers send it in `Origin`).
 *
 * @param origin The value.
 * @returns The origin, normalised as browsers send it.
 * @throws {RangeError} When it is not such an origin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOrigin } from "./http.ts";
 * assert.equal(checkOrigin("https://Example.org:443"), "https://example.org");
 * ```
 */
export function checkOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch (cause) {
    throw new RangeError(`Not an origin: ${JSON.stringify(origin)}`, { cause });
  }
  if (
    (url.protocol !== "http:" && url.protocol !== "https:") || url.origin === "null" ||
    url.href !== `${url.origin}/` || origin.endsWith("/")
  ) {
    throw new RangeError(`Not an origin (scheme://host[:port]): ${JSON.stringify(origin)}`);
  }
  return url.origin;
}

/** Whether a URL's hostname is an IP address or `localhost`, not a name DNS could rebind. */
function isAddress(hostname: string): boolean {
  return hostname === "localhost" || /^[0-9.]+$/.test(hostname) || hostname.startsWith("[");
}

function text(status: number, body: string, headers: Headers): Response {
  headers.set("content-type", "text/plain; charset=utf-8");
  headers.set("cache-control", "no-store");
  return new Response(body + "\n", { status, headers });
}

/**
 * Makes the request handler: the routing, the limits and the headers,
 * without a listener (so tests can call it directly).
 *
 * @param options The allowed origins and the URL limit.
 * @param hooks The game server's side.
 * @returns A handler for `Deno.serve`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./http.ts";
 * const handler = createHandler({}, {
 *   metrics: () => "",
 *   healthy: () => true,
 *   capacity: () => 10,
 *   adopt: (socket) => socket.close(),
 * });
 * const response = await handler(new Request("http://127.0.0.1/nope"));
 * assert.equal(response.status, 404);
 * ```
 */
export function createHandler(
  options: Pick<HttpOptions, "allowOrigins" | "maxUrlBytes">,
  hooks: HttpHooks,
): (request: Request, info?: Deno.ServeHandlerInfo<Deno.NetAddr>) => Promise<Response> {
  const maxUrlBytes = options.maxUrlBytes ?? HTTP_DEFAULTS.maxUrlBytes;
  const allowed = new Set((options.allowOrigins ?? []).map(checkOrigin));

  const route = (request: Request, remote: string): Response | Promise<Response> => {
    const url = new URL(request.url);
    const headers = securityHeaders(url.host);
    // The request target as sent: the URL minus scheme and host.
    if (request.url.length - url.origin.length > maxUrlBytes) {
      return text(414, `URL too long: the limit is ${maxUrlBytes} bytes`, headers);
    }
    const asset = ASSETS.get(url.pathname);
    const isWs = url.pathname === "/ws";
    const known = asset !== undefined || isWs || url.pathname === "/metrics" ||
      url.pathname === "/healthz";
    if (!known) return text(404, "Not found", headers);
    const methods = isWs ? ["GET"] : ["GET", "HEAD"];
    if (!methods.includes(request.method)) {
      headers.set("allow", methods.join(", "));
      return text(405, `Method not allowed: use ${methods.join(" or ")}`, headers);
    }
    const length = request.headers.get("content-length");
    if ((length !== null && length !== "0") || request.headers.has("transfer-encoding")) {
      return text(413, "Request bodies are not accepted", headers);
    }
    if (asset !== undefined) {
      if (url.search !== "") return text(404, "Not found", headers);
      // A page with no connection left to play on: say so now (/healthz and /metrics still answer).
      if (hooks.capacity() <= 0) {
        headers.set("retry-after", "5");
        return text(503, "Server busy, try again later", headers);
      }
      headers.set("content-type", asset.type);
      headers.set("cache-control", "no-cache");
      return new Response(request.method === "HEAD" ? null : asset.body, { headers });
    }
    if (url.pathname === "/healthz") {
      if (!hooks.healthy()) return text(503, "Shutting down", headers);
      if (hooks.starting?.()) return text(503, "Starting", headers);
      return text(200, "OK", headers);
    }
    if (url.pathname === "/metrics") {
      headers.set("content-type", "text/plain; version=0.0.4; charset=utf-8");
      headers.set("cache-control", "no-store");
      if (request.method === "HEAD") return new Response(null, { headers });
      const body = hooks.metrics();
      return typeof body === "string"
        ? new Response(body, { headers })
        : body.then((text) => new Response(text, { headers }));
    }
    // GET /ws
    const origin = request.headers.get("origin");
    // Browsers always send Origin with a WebSocket request; other clients need not. The
    // page's own origin counts only under an address or localhost: under any other name it
    // could be a DNS rebinding (a site whose name now points here), so a name needs
    // --http-allow-origin.
    const own = origin === url.origin && isAddress(url.hostname);
    if (origin !== null && !own && !allowed.has(origin)) {
      return text(403, "Origin not allowed", headers);
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      headers.set("upgrade", "websocket");
      return text(426, "Expected a WebSocket upgrade", headers);
    }
    const query = parseGameQuery(url.searchParams);
    if (query.type === "bad") return text(400, query.reason, headers);
    if (!hooks.healthy()) return text(503, "Server shutting down", headers);
    const { socket, response } = Deno.upgradeWebSocket(request);
    hooks.adopt(socket, query.game, remote);
    return response;
  };

  return async (request, info) => {
    let response: Response;
    try {
      const addr = info?.remoteAddr;
      response = await route(request, addr ? `${addr.hostname}:${addr.port}` : "unknown");
    } catch {
      // E.g. an upgrade request that is not a valid WebSocket handshake.
      response = text(400, "Bad request", securityHeaders(""));
    }
    hooks.onResponse?.(response.status);
    return response;
  };
}

/**
 * Starts the HTTP side with `Deno.serve`.
 *
 * @param options Address, origins, limits.
 * @param hooks The game server's side.
 * @returns The running HTTP side.
 *
 * @example
 * ```ts ignore
 * import { startHttp } from "./http.ts";
 * const http = startHttp({ port: 0 }, hooks);
 * console.log(http.addr.port);
 * await http.shutdown();
 * ```
 */
export function startHttp(options: HttpOptions, hooks: HttpHooks): HttpSide {
  const handler = createHandler(options, hooks);
  const server = Deno.serve({
    hostname: options.hostname ?? HTTP_DEFAULTS.hostname,
    port: options.port ?? HTTP_DEFAULTS.port,
    onListen: () => {},
    onError: () => new Response("Internal error\n", { status: 500 }),
  }, handler);
  const addr = server.addr;
  options.onListen?.(addr);
  let stopped: Promise<void> | undefined;
  return {
    addr,
    shutdown() {
      stopped ??= server.shutdown().then(() => server.finished);
      return stopped;
    },
  };
}
