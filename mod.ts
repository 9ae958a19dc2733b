/**
 * guess: a Deno port of the TCP number-guessing game of Effective Python
 * (Item 61). The server guesses a secret only the client knows; the client
 * says how each guess compares. See `README.md` and `PROTOCOL.md`.
 *
 * @example Play one game against a server on port 4321
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * await using client = await connect({ port: 4321 });
 * await using game = await client.session(1, 5, 3);
 * for await (const n of game.requestNumbers(5)) await game.reportOutcome(n);
 * ```
 *
 * @module
 */

// The public API, by name: what a user of serve/connect/Client/Game and of the sans-I/O
// protocol needs. Helpers such as excerpt, errorMessage, parseInteger, decodeLine,
// LineSplitter, mix, SHUFFLE_LIMIT, ShuffleStrategy, describeError, securityHeaders,
// parseGameQuery, checkOrigin and escapeLabelValue stay internal.
export {
  type ByteTurn,
  type CloseReason,
  type Command,
  type Decision,
  DECISIONS,
  formatCommand,
  formatReply,
  type GameEvent,
  isDecision,
  judge,
  parseCommand,
  parseReply,
  ProtocolError,
  type Reply,
  ServerConnection,
  type ServerConnectionOptions,
  ServerError,
  Session,
  type SessionOptions,
  type Turn,
} from "./protocol.ts";
export { InvalidUtf8Error, LineStream, LineTooLongError, MAX_LINE_BYTES } from "./framing.ts";
export { Rng, type Strategy, StrategyError } from "./strategy.ts";
export { createStrategy, isStrategyName, STRATEGIES, type StrategyName } from "./strategies.ts";
export { RandomStrategy } from "./random.ts";
export { BisectStrategy } from "./bisect.ts";
export {
  type ConnectionEvent,
  type GuessServer,
  serve,
  type ServeOptions,
  SERVER_DEFAULTS,
  serveStreams,
  type SessionServeOptions,
} from "./server.ts";
export {
  checkGuess,
  Client,
  type ClientOptions,
  connect,
  ConnectError,
  type ConnectOptions,
  Game,
} from "./client.ts";
export {
  createLogger,
  type Fields,
  type Level,
  LOG_FORMATS,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  silentLogger,
} from "./log.ts";
export {
  createHandler,
  HTTP_DEFAULTS,
  type HttpHooks,
  type HttpOptions,
  type HttpSide,
  startHttp,
  type WebSocketGame,
} from "./http.ts";
export {
  type Counter,
  ERROR_KINDS,
  type ErrorKind,
  errorKind,
  type Family,
  formatExposition,
  type Gauge,
  type Histogram,
  mergeSnapshots,
  type MetricType,
  Registry,
  type Series,
  ServerMetrics,
  type Snapshot,
  type TransportName,
} from "./metrics.ts";
