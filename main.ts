/**
 * The `guess` command line's entry point: it dispatches to a command module
 * in `cli/` (`serve`, `play`, `bench`), turns errors into one line and an exit
 * status (0 done, 1 failed at run time, 2 bad command line), and exits.
 * `guess --help` lists the commands; `guess <command> --help` the options.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { type Io, stdio, UsageError } from "./cli/args.ts";
import { benchCommand } from "./cli/bench.ts";
import { playCommand } from "./cli/play.ts";
import { serveCommand } from "./cli/serve.ts";
import { ConnectError } from "./client.ts";
import { ProtocolError, ServerError } from "./protocol.ts";

/**
 * The version printed by `--version`, from `deno.json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./main.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+$/);
 * ```
 */
export const VERSION: string = denoJson.version;

const MAIN_HELP =
  `guess ${VERSION}: the number-guessing game of Effective Python (Item 61), over TCP

Usage:
  guess serve [options]   Run the server (needs --allow-net)
  guess play [options]    Play the seed's demo (in-process server: no permissions needed)
  guess bench [options]   Measure a server under load (needs --allow-net, and --allow-read
                          without --connect)
  guess help [command]    Show this help, or a command's (same as guess <command> --help)
  guess --help | --version

Run 'guess <command> --help' for a command's options.
`;

/**
 * Runs the CLI.
 *
 * @param args The arguments, without the program name.
 * @param io Where output goes.
 * @returns The exit status: 0 done, 1 failed at run time, 2 bad command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./main.ts";
 * const lines: string[] = [];
 * const status = await main(["--version"], { out: (l) => lines.push(l), err: () => {} });
 * assert.equal(status, 0);
 * assert.match(lines[0], /^guess /);
 * ```
 */
export async function main(args: string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(rest, io);
      case "play":
        return await playCommand(rest, io);
      case "bench":
        return await benchCommand(rest, io);
      case "--version":
      case "-V":
        io.out(`guess ${VERSION}`);
        return 0;
      case "help": {
        // `guess help serve` is `guess serve --help`.
        const [topic] = rest;
        if (topic === "serve" || topic === "play" || topic === "bench") {
          return await main([topic, "--help"], io);
        }
        if (topic !== undefined) {
          throw new UsageError(
            `Unknown command "${topic}": expected serve, play or bench`,
            "guess",
          );
        }
        io.out(MAIN_HELP);
        return 0;
      }
      case "--help":
      case "-h":
        io.out(MAIN_HELP);
        return 0;
      case undefined:
        throw new UsageError("Missing command: expected serve, play or bench", "guess");
      default:
        if (command.startsWith("-")) {
          throw new UsageError(
            `Unknown option "${command}": expected a command (serve, play, bench), --help or --version`,
            "guess",
          );
        }
        throw new UsageError(
          `Unknown command "${command}": expected serve, play or bench`,
          "guess",
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const where = error.command === "guess" ? "guess --help" : `guess ${error.command} --help`;
      io.err(`guess: ${error.message}\nTry '${where}'`);
      return 2;
    }
    io.err(`guess: ${runtimeMessage(error)}`);
    return 1;
  }
}

/**
 * One line for a run-time error: what failed and, where it is clear, what to
 * do. A `SuppressedError` (an error while disposing after another) shows the
 * first error, the one that caused it all.
 */
function runtimeMessage(error: unknown): string {
  while (error instanceof SuppressedError) error = error.suppressed;
  // The client escapes the server's text in ServerError; these are the only peer text here.
  if (error instanceof ServerError) return `Server error: ${error.message}`;
  if (error instanceof ProtocolError) return `Protocol error: ${error.message}`;
  if (error instanceof ConnectError) {
    switch (error.reason) {
      case "refused":
        return `${error.message}; is \`guess serve\` running there?`;
      case "unresolved":
        return `${error.message}; check the HOST of --connect HOST:PORT`;
      case "timeout":
        return `${error.message}; is the server up and reachable? --timeout S waits longer`;
      case "other":
        return error.message;
      default: {
        const unknown: never = error.reason;
        return `Cannot connect: ${unknown}`;
      }
    }
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `${error.message.split("\n")[0]}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
