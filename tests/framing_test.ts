import assert from "node:assert/strict";
import {
  decodeLine,
  InvalidUtf8Error,
  LineSplitter,
  LineStream,
  LineTooLongError,
  MAX_LINE_BYTES,
  tryDecodeLine,
} from "../framing.ts";
import { decode, encode } from "./helpers.ts";

interface Case {
  name: string;
  input: string;
  limit?: number;
  /** The complete lines handed out, in order. */
  lines: string[];
  /** The bytes held for an unfinished line afterwards; absent when it must fail. */
  buffered?: number;
  /** What `end()` returns afterwards (only when it did not fail). */
  rest?: string;
}

const CASES: Case[] = [
  { name: "one line ended by \\n", input: "NUMBER\n", lines: ["NUMBER"], buffered: 0 },
  { name: "one line ended by \\r\\n", input: "NUMBER\r\n", lines: ["NUMBER"], buffered: 0 },
  {
    name: "mixed terminators",
    input: "PARAMS 1 5\nNUMBER\r\nREPORT Unsure\n",
    lines: ["PARAMS 1 5", "NUMBER", "REPORT Unsure"],
    buffered: 0,
  },
  { name: "empty lines", input: "\n\n\r\n", lines: ["", "", ""], buffered: 0 },
  { name: "a lone \\r inside a line is kept", input: "A\rB\n", lines: ["A\rB"], buffered: 0 },
  { name: "only the last \\r is a terminator", input: "A\r\r\n", lines: ["A\r"], buffered: 0 },
  { name: "unterminated input is held", input: "NUM", lines: [], buffered: 3, rest: "NUM" },
  { name: "a line then a partial line", input: "4\n5", lines: ["4"], buffered: 1, rest: "5" },
  { name: "a held \\r is dropped at the end", input: "5\r", lines: [], buffered: 2, rest: "5" },
  { name: "a line exactly at the limit", input: "ABCD\n", limit: 4, lines: ["ABCD"], buffered: 0 },
  {
    name: "the \\r counts toward the limit",
    input: "ABC\r\n",
    limit: 4,
    lines: ["ABC"],
    buffered: 0,
  },
  {
    name: "an unterminated line at the limit is held",
    input: "ABCD",
    limit: 4,
    lines: [],
    buffered: 4,
    rest: "ABCD",
  },
  { name: "one byte over the limit with its newline", input: "ABCDE\n", limit: 4, lines: [] },
  { name: "one byte over the limit without a newline", input: "ABCDE", limit: 4, lines: [] },
  { name: "a \\r that takes a line over the limit", input: "ABCD\r\n", limit: 4, lines: [] },
  {
    name: "lines before the long one come out",
    input: "A\nB\nABCDE\n",
    limit: 4,
    lines: ["A", "B"],
  },
];

type Feed = "whole" | "byte by byte" | "with trailing bytes" | "split in two";

/** Feeds `chunks`, returns the lines and whether it threw LineTooLongError. */
function feed(splitter: LineSplitter, chunks: Uint8Array[]): { lines: string[]; failed: boolean } {
  const lines: string[] = [];
  try {
    for (const chunk of chunks) {
      splitter.push(chunk, (line, start, end) => lines.push(decode(line.subarray(start, end))));
      assert.ok(splitter.buffered <= splitter.maxLineBytes, "held bytes stay within the limit");
    }
  } catch (error) {
    assert.ok(error instanceof LineTooLongError, `unexpected ${error}`);
    assert.equal(error.limit, splitter.maxLineBytes);
    assert.equal(error.message, `Line too long: the limit is ${splitter.maxLineBytes} bytes`);
    return { lines, failed: true };
  }
  return { lines, failed: false };
}

function chunksOf(bytes: Uint8Array, how: Feed, at = 0): Uint8Array[] {
  switch (how) {
    case "whole":
      return [bytes];
    case "byte by byte":
      return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    case "with trailing bytes":
      return [bytes];
    case "split in two":
      return [bytes.subarray(0, at), bytes.subarray(at)];
    default: {
      const unknown: never = how;
      throw new Error(`Unknown feed ${unknown}`);
    }
  }
}

for (const c of CASES) {
  for (const how of ["whole", "byte by byte", "with trailing bytes"] as const) {
    Deno.test(`LineSplitter() handles ${c.name}, fed ${how}`, () => {
      const trailing = how === "with trailing bytes";
      // Trailing bytes without a newline must be held, not handed out as a line.
      const input = encode(c.input + (trailing ? "PA" : ""));
      const splitter = new LineSplitter(c.limit);
      const { lines, failed } = feed(splitter, chunksOf(input, how));
      assert.deepEqual(lines, c.lines);
      if (c.buffered === undefined) {
        assert.equal(failed, true, "must reject the line over the limit");
        assert.equal(splitter.buffered, 0, "a failed splitter holds nothing");
        assert.throws(() => splitter.push(encode("NUMBER\n"), () => {}), LineTooLongError);
        return;
      }
      if (trailing && c.buffered + 2 > splitter.maxLineBytes) {
        assert.equal(failed, true, "trailing bytes take the held line over the limit");
        return;
      }
      assert.equal(failed, false);
      assert.equal(splitter.buffered, c.buffered + (trailing ? 2 : 0));
      const rest = splitter.end();
      // With trailing bytes, a held "\r" is no longer last, so it stays.
      const held = c.input.slice(c.input.lastIndexOf("\n") + 1);
      assert.equal(rest === undefined ? undefined : decode(rest), trailing ? held + "PA" : c.rest);
      assert.equal(splitter.buffered, 0, "end() forgets the held bytes");
      assert.equal(splitter.end(), undefined);
    });
  }
  Deno.test(`LineSplitter() handles ${c.name}, split at every point`, () => {
    const input = encode(c.input);
    for (let at = 0; at <= input.length; at++) {
      const splitter = new LineSplitter(c.limit);
      const { lines, failed } = feed(splitter, chunksOf(input, "split in two", at));
      assert.deepEqual(lines, c.lines, `split at ${at}`);
      assert.equal(failed, c.buffered === undefined, `split at ${at}`);
      if (!failed) assert.equal(splitter.buffered, c.buffered, `split at ${at}`);
    }
  });
}

Deno.test("LineSplitter() defaults to MAX_LINE_BYTES, which is 1024", () => {
  assert.equal(MAX_LINE_BYTES, 1024);
  assert.equal(new LineSplitter().maxLineBytes, 1024);
});

Deno.test("LineSplitter() accepts a 1024-byte line and rejects a 1025-byte one", () => {
  for (const how of ["whole", "byte by byte"] as const) {
    const atLimit = new LineSplitter();
    const ok = feed(atLimit, chunksOf(encode("x".repeat(1024) + "\n"), how));
    assert.deepEqual(ok, { lines: ["x".repeat(1024)], failed: false }, how);

    const over = new LineSplitter();
    assert.deepEqual(feed(over, chunksOf(encode("x".repeat(1025)), how)), {
      lines: [],
      failed: true,
    });
  }
});

Deno.test("LineSplitter() holds at most the limit for a line that never ends", () => {
  const splitter = new LineSplitter(16);
  for (let i = 0; i < 16; i++) {
    splitter.push(encode("x"), () => assert.fail("no line yet"));
    assert.equal(splitter.buffered, i + 1);
  }
  assert.throws(() => splitter.push(encode("x"), () => {}), LineTooLongError);
  assert.equal(splitter.buffered, 0);
});

Deno.test("LineSplitter() hands out many lines of one chunk in order and holds nothing", () => {
  const splitter = new LineSplitter(8);
  const lines: string[] = [];
  const input = Array.from({ length: 1000 }, (_, i) => `${i}\n`).join("");
  splitter.push(encode(input), (line, start, end) => lines.push(decode(line.subarray(start, end))));
  assert.deepEqual(lines, Array.from({ length: 1000 }, (_, i) => `${i}`));
  assert.equal(splitter.buffered, 0);
});

Deno.test("LineSplitter() joins a line held across chunks with the same bytes", () => {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  const onLine = (line: Uint8Array, start: number, end: number) =>
    lines.push(decode(line.subarray(start, end)));
  splitter.push(encode("PAR"), onLine);
  splitter.push(encode("AMS 1"), onLine);
  splitter.push(encode(" 5\r"), onLine);
  splitter.push(encode("\nNUMBER\nREP"), onLine);
  assert.deepEqual(lines, ["PARAMS 1 5", "NUMBER"]);
  assert.equal(decode(splitter.end()!), "REP");
});

Deno.test("LineSplitter() rejects a limit that is not a positive integer", () => {
  for (const limit of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new LineSplitter(limit), {
      name: "RangeError",
      message: `Line limit must be a positive integer, got ${limit}`,
    });
  }
});

Deno.test("decodeLine() decodes every ASCII byte on its fast path", () => {
  const bytes = Uint8Array.from({ length: 128 }, (_, i) => i);
  assert.equal(decodeLine(bytes), String.fromCharCode(...bytes));
  assert.equal(decodeLine(new Uint8Array(0)), "");
  assert.equal(decodeLine(encode("NUMBER")), "NUMBER");
});

Deno.test("decodeLine() decodes valid UTF-8", () => {
  assert.equal(decodeLine(encode("é€😀 NUMBER")), "é€😀 NUMBER");
});

Deno.test("decodeLine() decodes long ASCII lines (a --max-line-bytes up to 1 MiB)", () => {
  // String.fromCharCode.apply over ~125k arguments overflows the stack.
  for (const length of [65_536, 200_000, 1 << 20]) {
    const text = decodeLine(new Uint8Array(length).fill(0x41));
    assert.equal(text.length, length);
    assert.equal(text, "A".repeat(length));
  }
});

Deno.test("decodeLine() throws InvalidUtf8Error for invalid UTF-8", () => {
  const invalid = [
    [0xff],
    [0x4e, 0xc3], // truncated sequence
    [0xc0, 0x80], // overlong encoding of NUL
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0x80], // a lone continuation byte
  ];
  for (const bytes of invalid) {
    assert.throws(() => decodeLine(Uint8Array.from(bytes)), (error: unknown) => {
      assert.ok(error instanceof InvalidUtf8Error);
      assert.equal(error.name, "InvalidUtf8Error");
      assert.equal(error.message, "Line is not valid UTF-8");
      assert.ok(error.cause instanceof TypeError);
      return true;
    }, `bytes ${bytes}`);
  }
});

async function streamLines(chunks: string[] | Uint8Array[], limit?: number): Promise<string[]> {
  const bytes = chunks.map((chunk) => typeof chunk === "string" ? encode(chunk) : chunk);
  return await Array.fromAsync(ReadableStream.from(bytes).pipeThrough(new LineStream(limit)));
}

Deno.test("LineStream() emits decoded lines, the unterminated last one at flush", async () => {
  assert.deepEqual(await streamLines(["4\n5\r\n", "", "6"]), ["4", "5", "6"]);
  assert.deepEqual(await streamLines(["4\n", "5\n"]), ["4", "5"]);
  assert.deepEqual(await streamLines([]), []);
  assert.deepEqual(await streamLines(["\n"]), [""]);
});

Deno.test("LineStream() gives the same lines fed byte by byte", async () => {
  const input = "PARAMS 1 5\r\nNUMBER\nREPORT Warmer";
  assert.deepEqual(await streamLines(input.split("")), ["PARAMS 1 5", "NUMBER", "REPORT Warmer"]);
});

Deno.test("LineStream() errors with LineTooLongError on a line over its limit", async () => {
  await assert.rejects(streamLines(["1234\n12345\n"], 4), LineTooLongError);
  await assert.rejects(streamLines(["12", "345"], 4), LineTooLongError);
});

Deno.test("LineStream() errors with InvalidUtf8Error on invalid UTF-8", async () => {
  await assert.rejects(streamLines([Uint8Array.of(0x34, 0x0a, 0xff, 0x0a)]), InvalidUtf8Error);
  // Also an unterminated invalid last line, decoded at flush.
  await assert.rejects(streamLines([Uint8Array.of(0xc3)]), InvalidUtf8Error);
});

Deno.test("decodeLine() and tryDecodeLine() keep a UTF-8 byte-order mark as part of the line", () => {
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x4e]);
  assert.equal(decodeLine(bom), "\ufeffN");
  assert.equal(tryDecodeLine(bom), "\ufeffN");
});

Deno.test("tryDecodeLine() returns undefined for invalid UTF-8 instead of throwing", () => {
  assert.equal(tryDecodeLine(new Uint8Array([0x41, 0xff])), undefined);
  assert.equal(tryDecodeLine(new Uint8Array([0xe2, 0x82])), undefined);
  assert.equal(tryDecodeLine(encode("caf\u00e9")), "caf\u00e9");
});

Deno.test("LineSplitter.push() stops after a line when onLine returns false, and takes the rest later", () => {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  const chunk = encode("A\nBB\nCCC\nDD");
  const taken = splitter.push(chunk, (bytes, start, end) => {
    lines.push(decode(bytes.subarray(start, end)));
    return lines.length < 2;
  });
  assert.equal(taken, 5);
  assert.deepEqual(lines, ["A", "BB"]);
  assert.equal(splitter.buffered, 0);
  const rest = splitter.push(chunk.subarray(taken), (bytes, start, end) => {
    lines.push(decode(bytes.subarray(start, end)));
  });
  assert.equal(rest, chunk.length - taken);
  assert.deepEqual(lines, ["A", "BB", "CCC"]);
  assert.equal(splitter.buffered, 2);
  // A line completed from the carry can stop the call too.
  const taken2 = splitter.push(encode("\nE\n"), () => false);
  assert.equal(taken2, 1);
});

Deno.test("LineSplitter.push() with a length feeds only that prefix of the chunk", () => {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  const onLine = (bytes: Uint8Array, start: number, end: number) => {
    lines.push(decode(bytes.subarray(start, end)));
  };
  // A reused read buffer: stale bytes after the length must not be read.
  const buffer = encode("A\nBB\nstale\n");
  assert.equal(splitter.push(buffer, onLine, 4), 4);
  assert.deepEqual(lines, ["A"]);
  assert.equal(splitter.buffered, 2);
  buffer.set(encode("C\nD"));
  assert.equal(splitter.push(buffer, onLine, 2), 2);
  assert.deepEqual(lines, ["A", "BBC"]);
  assert.equal(splitter.buffered, 0);
  assert.throws(() => splitter.push(buffer, onLine, buffer.length + 1), RangeError);
  assert.throws(() => splitter.push(buffer, onLine, -1), RangeError);
});
