/**
 * Line framing for the guess protocol: a bounded byte-level line splitter, a
 * strict line decoder and a `TransformStream` wrapper. Pure: no I/O.
 *
 * @module
 */

/**
 * The default longest line, in bytes, not counting its `\n` terminator (a `\r`
 * before the `\n` counts). The longest valid command is well under 64 bytes.
 *
 * @example Pass it as the limit of a splitter
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter, LineTooLongError, MAX_LINE_BYTES } from "./framing.ts";
 * const splitter = new LineSplitter(MAX_LINE_BYTES);
 * const line = new TextEncoder().encode("x".repeat(MAX_LINE_BYTES + 1));
 * assert.throws(() => splitter.push(line, () => {}), LineTooLongError);
 * ```
 */
export const MAX_LINE_BYTES = 1024;

/**
 * Thrown when a line grows past the splitter's limit, with or without its
 * newline. The splitter is unusable afterwards: close the connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter, LineTooLongError } from "./framing.ts";
 * const splitter = new LineSplitter(4);
 * assert.throws(
 *   () => splitter.push(new TextEncoder().encode("TOO LONG"), () => {}),
 *   LineTooLongError,
 * );
 * ```
 */
export class LineTooLongError extends Error {
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;

  /**
   * Makes the error for a limit.
   *
   * @param limit The limit that was exceeded, in bytes.
   * @param options Standard error options, such as `cause`.
   */
  constructor(limit: number, options?: ErrorOptions) {
    super(`Line too long: the limit is ${limit} bytes`, options);
    this.name = "LineTooLongError";
    this.limit = limit;
  }
}

/**
 * Thrown by {@linkcode decodeLine} when a line is not valid UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLine, InvalidUtf8Error } from "./framing.ts";
 * assert.throws(() => decodeLine(new Uint8Array([0xff])), InvalidUtf8Error);
 * ```
 */
export class InvalidUtf8Error extends Error {
  /**
   * Makes the error.
   *
   * @param options Standard error options, such as `cause`.
   */
  constructor(options?: ErrorOptions) {
    super("Line is not valid UTF-8", options);
    this.name = "InvalidUtf8Error";
  }
}

const LF = 0x0a;
const CR = 0x0d;
// ignoreBOM: a byte-order mark is part of the line (and makes it a bad command), not dropped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Longer lines skip the ASCII fast path (`--max-line-bytes` goes up to 1 MiB). */
const ASCII_FAST_PATH_BYTES = 4096;

/**
 * Decodes one line of bytes to a string: a fast path for ASCII (every valid
 * command and reply is ASCII), strict UTF-8 for anything else.
 *
 * @param bytes The line, without its terminator.
 * @returns The decoded line.
 * @throws {InvalidUtf8Error} When the bytes are not valid UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLine } from "./framing.ts";
 * assert.equal(decodeLine(new TextEncoder().encode("NUMBER")), "NUMBER");
 * ```
 */
export function decodeLine(bytes: Uint8Array): string {
  const text = tryDecodeLine(bytes);
  if (text !== undefined) return text;
  // Only a bad line pays for decoding twice: once more for the decoder's own error.
  let cause: unknown;
  try {
    utf8.decode(bytes);
  } catch (error) {
    cause = error;
  }
  throw new InvalidUtf8Error({ cause });
}

/**
 * Decodes one line like {@linkcode decodeLine}, but reports invalid UTF-8 as
 * `undefined` instead of throwing: the server's hot path pays no exception
 * for an ASCII line, good or bad.
 *
 * @param bytes The line, without its terminator.
 * @returns The decoded line, or `undefined` when the bytes are not valid UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tryDecodeLine } from "./framing.ts";
 * assert.equal(tryDecodeLine(new Uint8Array([0x4e])), "N");
 * assert.equal(tryDecodeLine(new Uint8Array([0xff])), undefined);
 * ```
 */
export function tryDecodeLine(bytes: Uint8Array): string | undefined {
  // Short lines are the norm; apply() overflows the stack past ~100k arguments.
  let ascii = bytes.length <= ASCII_FAST_PATH_BYTES;
  for (let i = 0; ascii && i < bytes.length; i++) ascii = bytes[i] <= 0x7f;
  if (ascii) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Splits a byte stream into lines ended by `\n` or `\r\n`, holding at most
 * `maxLineBytes` bytes of an unfinished line. Complete lines inside one chunk
 * are handed out as ranges of that chunk, without copying or allocating.
 *
 * @example Feed chunks, get lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter } from "./framing.ts";
 * const lines: string[] = [];
 * const splitter = new LineSplitter();
 * const bytes = new TextEncoder().encode("NUMBER\r\nREPORT Unsure\nPAR");
 * splitter.push(bytes, (line, start, end) => {
 *   lines.push(new TextDecoder().decode(line.subarray(start, end)));
 * });
 * assert.equal(lines.join("|"), "NUMBER|REPORT Unsure");
 * assert.equal(splitter.buffered, 3);
 * ```
 */
export class LineSplitter {
  /** The longest line accepted, in bytes, not counting the `\n`. */
  readonly maxLineBytes: number;
  #carry: Uint8Array | undefined;
  #carryLength = 0;
  #failed = false;

  /**
   * Makes a splitter holding nothing yet.
   *
   * @param maxLineBytes The longest line accepted, in bytes, not counting the `\n`.
   * @default {MAX_LINE_BYTES}
   */
  constructor(maxLineBytes: number = MAX_LINE_BYTES) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`Line limit must be a positive integer, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
  }

  /** How many bytes of an unfinished line are held. */
  get buffered(): number {
    return this.#carryLength;
  }

  /**
   * Feeds bytes. Calls `onLine` once per complete line, in order, as
   * `onLine(bytes, start, end)`: the line is `bytes[start, end)`, without its
   * `\n` or `\r\n`, and `bytes` is valid only during the call (it is the chunk,
   * or the splitter's own buffer for a line that spanned chunks). Nothing is
   * allocated per line: take `bytes.subarray(start, end)` if you need a view.
   * Keeps the bytes of an unfinished last line for the next call.
   *
   * When `onLine` returns `false` the splitter stops right after that line
   * and returns how many bytes of the chunk it took; the caller feeds the
   * rest (`chunk.subarray(taken)`) later. This bounds the work of one call.
   *
   * @param chunk The bytes received.
   * @param onLine Called with each complete line; returning `false` (exactly) stops the call.
   * @param length How many bytes of `chunk` to feed, from its start: a
   * shell's read buffer is fed without making a view of it per read.
   * @default {chunk.length} length
   * @returns How many bytes of `chunk` were taken (all `length` unless stopped).
   * @throws {LineTooLongError} When a line exceeds the limit; the lines
   * before it in the chunk were already handed out.
   */
  push(
    chunk: Uint8Array,
    onLine: (bytes: Uint8Array, start: number, end: number) => unknown,
    length: number = chunk.length,
  ): number {
    if (this.#failed) throw new LineTooLongError(this.maxLineBytes);
    if (!(length >= 0 && length <= chunk.length)) {
      throw new RangeError(`Length must be in [0, ${chunk.length}], got ${length}`);
    }
    let start = 0;
    if (this.#carryLength > 0) {
      let end = 0;
      while (end < length && chunk[end] !== LF) end++;
      this.#append(chunk, 0, end);
      if (end === length) return length;
      const carry = this.#carry!, n = this.#carryLength;
      this.#carryLength = 0;
      start = end + 1;
      if (onLine(carry, 0, carry[n - 1] === CR ? n - 1 : n) === false) return start;
    }
    // A plain loop: for lines of a few bytes, indexOf() and subarray() cost
    // ten times more than the scan itself.
    const limit = this.maxLineBytes;
    for (let i = start; i < length; i++) {
      if (chunk[i] !== LF) continue;
      if (i - start > limit) this.#fail();
      const more = onLine(chunk, start, i > start && chunk[i - 1] === CR ? i - 1 : i);
      start = i + 1;
      if (more === false) return start;
    }
    if (start < length) this.#append(chunk, start, length);
    return length;
  }

  /**
   * Ends the input: returns the unfinished last line, if any, and forgets it.
   *
   * @returns The bytes of the unterminated last line, or `undefined`.
   */
  end(): Uint8Array | undefined {
    if (this.#carryLength === 0) return undefined;
    const rest = this.#carry!.slice(0, this.#carryLength);
    this.#carryLength = 0;
    return trimCR(rest);
  }

  #append(chunk: Uint8Array, from: number, to: number): void {
    const length = this.#carryLength + (to - from);
    if (length > this.maxLineBytes) this.#fail();
    if (this.#carry === undefined || this.#carry.length < length) {
      // Grow geometrically, never past the limit: memory per connection stays bounded.
      const size = Math.min(
        this.maxLineBytes,
        Math.max(64, length, (this.#carry?.length ?? 0) * 2),
      );
      const grown = new Uint8Array(size);
      if (this.#carry) grown.set(this.#carry.subarray(0, this.#carryLength));
      this.#carry = grown;
    }
    this.#carry.set(chunk.subarray(from, to), this.#carryLength);
    this.#carryLength = length;
  }

  #fail(): never {
    this.#failed = true;
    this.#carry = undefined;
    this.#carryLength = 0;
    throw new LineTooLongError(this.maxLineBytes);
  }
}

function trimCR(line: Uint8Array): Uint8Array {
  const n = line.length;
  return n > 0 && line[n - 1] === CR ? line.subarray(0, n - 1) : line;
}

/**
 * A `TransformStream` from bytes to decoded lines, with a length limit (unlike
 * std's `TextLineStream`, which buffers without bound). An unterminated last
 * line is emitted at the end. The stream errors with {@linkcode LineTooLongError}
 * or {@linkcode InvalidUtf8Error}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineStream } from "./framing.ts";
 * const lines = ReadableStream.from([new TextEncoder().encode("4\n5\n")])
 *   .pipeThrough(new LineStream());
 * const all = await Array.fromAsync(lines);
 * assert.equal(all.join(","), "4,5");
 * ```
 */
export class LineStream extends TransformStream<Uint8Array, string> {
  /**
   * Makes a line stream with a length limit.
   *
   * @param maxLineBytes The longest line accepted, in bytes.
   * @default {MAX_LINE_BYTES}
   */
  constructor(maxLineBytes: number = MAX_LINE_BYTES) {
    const splitter = new LineSplitter(maxLineBytes);
    super({
      transform(chunk, controller) {
        splitter.push(chunk, (bytes, start, end) => {
          controller.enqueue(decodeLine(bytes.subarray(start, end)));
        });
      },
      flush(controller) {
        const rest = splitter.end();
        if (rest !== undefined) controller.enqueue(decodeLine(rest));
      },
    });
  }
}
