/**
 * A tiny structured logger: one line per event on a sink (stderr by default),
 * as text (`message key=value ...`) or JSON. Field values are escaped, so raw
 * client bytes can never forge a log line.
 *
 * @module
 */

import { writeAllSync } from "./net.ts";

/**
 * How bad an event is. `debug` lines appear only when the logger is verbose.
 *
 * @example
 * ```ts
 * import type { Level } from "./log.ts";
 * const level: Level = "warn";
 * ```
 */
export type Level = "debug" | "info" | "warn" | "error";

/**
 * Extra facts of a log line. Values are numbers, booleans or strings.
 *
 * @example
 * ```ts
 * import type { Fields } from "./log.ts";
 * const fields: Fields = { conn: 3, remote: "127.0.0.1:5000" };
 * ```
 */
export type Fields = Record<string, string | number | boolean | undefined>;

/**
 * Where log lines go.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger, type Logger } from "./log.ts";
 * const lines: string[] = [];
 * const logger: Logger = createLogger({ write: (line) => lines.push(line) });
 * logger.log("info", "Listening on 127.0.0.1:4321");
 * assert.match(lines[0], /Listening on 127\.0\.0\.1:4321/);
 * ```
 */
export interface Logger {
  /** Whether `debug` lines are written (per-game detail). */
  readonly verbose: boolean;
  /**
   * How lines are written; a caller may add machine-readable fields (such as
   * a host and port) only where they are not already in the message's text.
   * @default {"text"}
   */
  readonly format?: LogFormat;
  /** Logs a line at a level. */
  log(level: Level, message: string, fields?: Fields): void;
}

/**
 * Options of {@linkcode createLogger}.
 *
 * @example
 * ```ts
 * import type { LoggerOptions } from "./log.ts";
 * const options: LoggerOptions = { format: "json", verbose: true };
 * ```
 */
export interface LoggerOptions {
  /**
   * `text`: the time (ISO 8601), the message, then ` key=value` per field;
   * `json`: one object per line.
   * @default {"text"}
   */
  format?: LogFormat;
  /**
   * Whether to write `debug` lines.
   * @default {false}
   */
  verbose?: boolean;
  /**
   * Where each line goes, without its newline.
   * @default {writes the line to stderr}
   */
  write?: (line: string) => void;
}

/**
 * The log formats, for the CLI.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOG_FORMATS } from "./log.ts";
 * assert.ok(LOG_FORMATS.includes("json"));
 * ```
 */
export const LOG_FORMATS = ["text", "json"] as const;

/**
 * A log format's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LogFormat } from "./log.ts";
 * const format: LogFormat = "json";
 * assert.equal(format, "json");
 * ```
 */
export type LogFormat = typeof LOG_FORMATS[number];

const encoder = new TextEncoder();

function stderrLine(line: string): void {
  writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
}

const SAFE_VALUE = /^[\x21-\x7e]*$/;

/**
 * Makes a logger.
 *
 * @param options Format, verbosity and sink.
 * @returns The logger.
 *
 * @example JSON lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const logger = createLogger({ format: "json", write: (line) => lines.push(line) });
 * logger.log("warn", "Server busy", { connections: 10000 });
 * assert.equal(JSON.parse(lines[0]).connections, 10000);
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? "text";
  const verbose = options.verbose ?? false;
  const write = options.write ?? stderrLine;
  return {
    verbose,
    format,
    log(level, message, fields = {}) {
      if (level === "debug" && !verbose) return;
      if (format === "json") {
        write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }));
        return;
      }
      // An ISO time first, as in the JSON form; warnings and errors say their level.
      let line = new Date().toISOString() + " " +
        (level === "warn" || level === "error" ? `${level.toUpperCase()} ${message}` : message);
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        const text = String(value);
        line += ` ${key}=${SAFE_VALUE.test(text) && text !== "" ? text : JSON.stringify(text)}`;
      }
      write(line);
    },
  };
}

/**
 * The message of an error, for a user-facing line: `error.message`, or what a
 * stream's bare `undefined` cancel reason means (the connection was closed).
 *
 * @param error Anything thrown or rejected.
 * @returns One line of text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./log.ts";
 * assert.equal(errorMessage(new Error("Boom")), "Boom");
 * ```
 */
export function errorMessage(error: unknown): string {
  if (error === undefined) return "the connection was closed";
  return error instanceof Error ? error.message : String(error);
}

/**
 * An error as a log field: `Name: message`, so the kind of failure shows.
 *
 * @param error Anything thrown or rejected.
 * @returns One line of text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeError } from "./log.ts";
 * assert.equal(describeError(new RangeError("Bad")), "RangeError: Bad");
 * ```
 */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * A logger that drops everything: the default of library calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { silentLogger } from "./log.ts";
 * silentLogger.log("error", "Nobody hears this");
 * assert.equal(silentLogger.verbose, false);
 * ```
 */
export const silentLogger: Logger = { verbose: false, log() {} };
