/**
 * The command line's shared grammar: the output sink, option parsing (with
 * negative numbers joined to their option), strict integers, strategies,
 * seeds, `HOST:PORT`, and the usage error every command raises.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { writeAllSync } from "../net.ts";
import { parseInteger, ProtocolError } from "../protocol.ts";
import { isStrategyName, STRATEGIES, type StrategyName } from "../strategies.ts";

/**
 * A bad command line: printed with a hint, exit status 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./args.ts";
 * const error = new UsageError("Unknown command \"fly\"", "guess");
 * assert.equal(error.command, "guess");
 * ```
 */
export class UsageError extends Error {
  /** Whose `--help` to point at. */
  readonly command: string;

  /**
   * @param message What is wrong, starting uppercase, no trailing period.
   * @param command Whose `--help` to point at.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, command: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * Where the CLI's lines go; tests pass their own and read them back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Io } from "./args.ts";
 * const lines: string[] = [];
 * const io: Io = { out: (line) => lines.push(line), err: (line) => lines.push(line) };
 * io.out("hello");
 * assert.deepEqual(lines, ["hello"]);
 * ```
 */
export interface Io {
  /** Writes one line of results (stdout). */
  out(line: string): void;
  /** Writes one line of diagnostics (stderr). */
  err(line: string): void;
}

const encoder = new TextEncoder();

/**
 * The process's own stdout and stderr, one whole line per call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stdio } from "./args.ts";
 * assert.equal(typeof stdio.out, "function");
 * ```
 */
export const stdio: Io = {
  out: (line) => writeText(Deno.stdout, line + "\n"),
  err: (line) => writeText(Deno.stderr, line + "\n"),
};

/**
 * Writes `text` to a stdio stream in full (a pipe may take it in pieces). A
 * reader that went away (`guess play | head`) is not our failure: the output is
 * dropped.
 *
 * @param stream `Deno.stdout` or `Deno.stderr`.
 * @param text The text, written as it is (add your own newline).
 *
 * @example
 * ```ts
 * import { writeText } from "./args.ts";
 * writeText(Deno.stdout, "");
 * ```
 */
export function writeText(stream: typeof Deno.stdout, text: string): void {
  try {
    writeAllSync(stream, encoder.encode(text));
  } catch (error) {
    // A reader that went away (`guess play | head`) is not our failure: drop the output.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * Parses a command's options strictly (no positionals). `parseArgs` takes
 * `--seed -5` for two options, so a negative number is joined to its option.
 *
 * @param command Whose `--help` a usage error points at.
 * @param args The arguments after the command.
 * @param options The options, as for `parseArgs`.
 * @returns What `parseArgs` returns.
 * @throws {UsageError} On an unknown or malformed option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parse } from "./args.ts";
 * const { values } = parse("play", ["--seed", "-5"], { seed: { type: "string" } });
 * assert.equal(values.seed, "-5");
 * ```
 */
// deno-lint-ignore explicit-module-boundary-types -- the type is parseArgs' own, inferred from T
export function parse<T extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  options: T,
) {
  // parseArgs takes `--seed -5` for two options; join a negative number to its option.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    if (name && options[name]?.type === "string" && /^-[0-9]/.test(args[i + 1] ?? "")) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  try {
    return parseArgs({
      args: joined,
      options,
      strict: true as const,
      allowPositionals: false as const,
    });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.replace(/\.$/, "") : String(cause);
    throw new UsageError(message.charAt(0).toUpperCase() + message.slice(1), command, { cause });
  }
}

/**
 * `count` comma-separated integers, each as strict as the protocol's
 * ({@linkcode parseInteger}), or `undefined` when the text is not that.
 *
 * @param text The text, e.g. `1,100`.
 * @param count How many integers it must hold.
 * @returns The integers, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { integers } from "./args.ts";
 * assert.deepEqual(integers("-3,5", 2), [-3, 5]);
 * assert.equal(integers("1,+2", 2), undefined);
 * ```
 */
export function integers(text: string, count: number): number[] | undefined {
  const parts = text.split(",");
  if (parts.length !== count) return undefined;
  try {
    return parts.map((part) => parseInteger(part, "Value"));
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
}

/**
 * The value of option `--name`: a strict integer in [min, max].
 *
 * @param command Whose `--help` a usage error points at.
 * @param name The option's name, without `--`.
 * @param text The option's text.
 * @param min The least value allowed.
 * @param max The greatest value allowed.
 * @returns The integer.
 * @throws {UsageError} When the text is not such an integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { integer, UsageError } from "./args.ts";
 * assert.equal(integer("serve", "port", "80", 0, 65535), 80);
 * assert.throws(() => integer("serve", "port", "x", 0, 65535), UsageError);
 * ```
 */
export function integer(
  command: string,
  name: string,
  text: string,
  min: number,
  max: number,
): number {
  const value = integers(text, 1)?.[0];
  if (value === undefined || value < min || value > max) {
    throw new UsageError(
      `--${name} needs an integer from ${min} to ${max}, got "${text}"`,
      command,
    );
  }
  return value;
}

/**
 * The value of `--strategy`, checked against the registry.
 *
 * @param command Whose `--help` a usage error points at.
 * @param text The option's text, `undefined` when not given.
 * @param fallback What an absent option means.
 * @returns The strategy's name.
 * @throws {UsageError} When it names no strategy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strategy } from "./args.ts";
 * assert.equal(strategy("play", undefined, "bisect"), "bisect");
 * assert.equal(strategy("play", "random", "bisect"), "random");
 * ```
 */
export function strategy(
  command: string,
  text: string | undefined,
  fallback: StrategyName,
): StrategyName {
  if (text === undefined) return fallback;
  if (isStrategyName(text)) return text;
  throw new UsageError(
    `--strategy must be one of ${STRATEGIES.join(", ")}, got "${text}"`,
    command,
  );
}

/**
 * The value of `--seed`: any safe integer.
 *
 * @param command Whose `--help` a usage error points at.
 * @param text The option's text, `undefined` when not given.
 * @returns The seed, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seed } from "./args.ts";
 * assert.equal(seed("play", "-7"), -7);
 * ```
 */
export function seed(command: string, text: string | undefined): number | undefined {
  return text === undefined
    ? undefined
    : integer(command, "seed", text, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
}

/**
 * The value of `--connect`: `HOST:PORT`, or `[IPV6]:PORT`.
 *
 * @param text The option's text.
 * @param command Whose `--help` a usage error points at.
 * @returns The host and port.
 * @throws {UsageError} When it is not that.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostPort } from "./args.ts";
 * assert.deepEqual(hostPort("[::1]:4321", "play"), { hostname: "::1", port: 4321 });
 * ```
 */
export function hostPort(text: string, command: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(text);
  if (!match) throw new UsageError(`--connect needs HOST:PORT, got "${text}"`, command);
  return {
    hostname: match[1] ?? match[2],
    port: integer(command, "connect", match[3], 1, 65535),
  };
}

/**
 * An `on|off` option, on when absent.
 *
 * @param command The command, for the usage error.
 * @param name The option's name without `--`.
 * @param text The option's value, if given.
 * @returns Whether it is on.
 * @throws {UsageError} For anything but `on` or `off`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onOff } from "./args.ts";
 * assert.equal(onOff("serve", "fairness", undefined), true);
 * assert.equal(onOff("serve", "fairness", "off"), false);
 * ```
 */
export function onOff(command: string, name: string, text: string | undefined): boolean {
  if (text === undefined || text === "on") return true;
  if (text === "off") return false;
  throw new UsageError(`--${name} must be on or off, got "${text}"`, command);
}
