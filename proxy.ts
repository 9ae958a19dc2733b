/**
 * The PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`, versions 1
 * and 2), without I/O: a load balancer sends it as the first bytes of a
 * connection to say who the real client is. {@linkcode parseProxyHeader}
 * looks at the bytes received so far and says whether they hold a whole
 * header, can still become one, or never will.
 *
 * Bounded: a v1 header is at most {@linkcode MAX_PROXY_V1_BYTES} bytes
 * including its CRLF, a v2 header at most {@linkcode MAX_PROXY_V2_BYTES}
 * (16 fixed bytes plus addresses and TLVs). Strict: anything that does not
 * match the specification exactly is invalid; nothing is sniffed or guessed.
 *
 * @module
 */

import { excerpt } from "./protocol.ts";

/**
 * The longest v1 header, CRLF included (`PROXY UNKNOWN` with two full IPv6
 * addresses and ports, as the specification computes it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_PROXY_V1_BYTES } from "./proxy.ts";
 * assert.equal(MAX_PROXY_V1_BYTES, 107);
 * ```
 */
export const MAX_PROXY_V1_BYTES = 107;

/**
 * The longest v2 header accepted: the 16 fixed bytes plus at most 520 bytes
 * of addresses and TLVs (the largest address block, AF_UNIX, is 216 bytes;
 * the rest leaves room for the TLVs balancers add). A longer declared length
 * is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_PROXY_V2_BYTES } from "./proxy.ts";
 * assert.equal(MAX_PROXY_V2_BYTES, 536);
 * ```
 */
export const MAX_PROXY_V2_BYTES = 536;

/**
 * The 12 bytes every v2 header starts with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROXY_V2_SIGNATURE } from "./proxy.ts";
 * assert.equal(PROXY_V2_SIGNATURE.length, 12);
 * ```
 */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** `PROXY ` in ASCII: how every v1 header starts. */
const V1_PREFIX = Uint8Array.from("PROXY ", (c) => c.charCodeAt(0));
const V2_FIXED_BYTES = 16;
const MAX_V2_LENGTH = MAX_PROXY_V2_BYTES - V2_FIXED_BYTES;
const CR = 0x0d;
const LF = 0x0a;

/**
 * One end of the proxied connection.
 *
 * @example
 * ```ts
 * import type { ProxyAddress } from "./proxy.ts";
 * const address: ProxyAddress = { family: "IPv4", hostname: "192.0.2.1", port: 5000 };
 * ```
 */
export interface ProxyAddress {
  /** The address family. */
  readonly family: "IPv4" | "IPv6";
  /** The address, IPv4 dotted or IPv6 in its canonical text (RFC 5952). */
  readonly hostname: string;
  /** The TCP port, 0 to 65535. */
  readonly port: number;
}

/**
 * What a valid header says.
 *
 * - `proxy`: the balancer relays a client; `source` is the client.
 * - `local`: a v2 LOCAL command, the balancer's own connection (a health
 *   check); use the TCP peer's address.
 * - `unknown`: v1 `UNKNOWN`, or v2 with an address family or transport we do
 *   not map to TCP addresses (AF_UNSPEC, AF_UNIX, datagrams); use the TCP
 *   peer's address.
 *
 * @example
 * ```ts
 * import type { ProxyHeader } from "./proxy.ts";
 * const header: ProxyHeader = { type: "local", version: 2 };
 * ```
 */
export type ProxyHeader =
  | {
    readonly type: "proxy";
    readonly version: 1 | 2;
    readonly source: ProxyAddress;
    readonly destination: ProxyAddress;
  }
  | { readonly type: "local"; readonly version: 2 }
  | { readonly type: "unknown"; readonly version: 1 | 2 };

/**
 * The verdict of {@linkcode parseProxyHeader} on the bytes so far.
 *
 * - `need-more`: a prefix of a valid header; read more.
 * - `header`: a whole header; the first `consumed` bytes are it, the rest
 *   belongs to the protocol behind it.
 * - `invalid`: these bytes never become a valid header; `message` says why
 *   (starts uppercase, no trailing period, peer bytes escaped).
 *
 * @example
 * ```ts
 * import type { ProxyParse } from "./proxy.ts";
 * const verdict: ProxyParse = { type: "need-more" };
 * ```
 */
export type ProxyParse =
  | { readonly type: "need-more" }
  | { readonly type: "header"; readonly header: ProxyHeader; readonly consumed: number }
  | { readonly type: "invalid"; readonly message: string };

const NEED_MORE: ProxyParse = Object.freeze({ type: "need-more" });

function invalid(message: string): ProxyParse {
  return { type: "invalid", message };
}

/** Whether `bytes` and `prefix` agree over the shorter of the two. */
function matches(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/**
 * Looks at the first bytes of a connection, received so far, for a PROXY
 * header (v1 or v2). Call it again with more bytes after `need-more`; it
 * decides as early as it can (the first byte that fits neither version is
 * `invalid`), and never needs more than {@linkcode MAX_PROXY_V2_BYTES}.
 *
 * @param bytes Everything received on the connection so far.
 * @returns `need-more`, `header` (with how many bytes it took) or `invalid`.
 *
 * @example A v1 header followed by a command
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProxyHeader } from "./proxy.ts";
 * const text = "PROXY TCP4 192.0.2.1 198.51.100.2 5000 4321\r\nNUMBER\n";
 * const verdict = parseProxyHeader(new TextEncoder().encode(text));
 * assert.equal(verdict.type, "header");
 * if (verdict.type === "header" && verdict.header.type === "proxy") {
 *   assert.equal(verdict.header.source.hostname, "192.0.2.1");
 *   assert.equal(verdict.consumed, text.indexOf("NUMBER"));
 * }
 * ```
 *
 * @example Not a header at all
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProxyHeader } from "./proxy.ts";
 * assert.equal(parseProxyHeader(new TextEncoder().encode("N")).type, "invalid");
 * ```
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyParse {
  if (bytes.length === 0) return NEED_MORE;
  if (matches(bytes, V1_PREFIX)) return parseV1(bytes);
  if (matches(bytes, PROXY_V2_SIGNATURE)) return parseV2(bytes);
  return invalid(
    `Missing PROXY header: the connection must start with "PROXY " or the v2 signature, got ${
      excerpt(latin1(bytes.subarray(0, 16)), 16)
    }`,
  );
}

function parseV1(bytes: Uint8Array): ProxyParse {
  const limit = Math.min(bytes.length, MAX_PROXY_V1_BYTES);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i];
    if (byte === LF) {
      if (i === 0 || bytes[i - 1] !== CR) return invalid("Invalid PROXY v1 header: LF without CR");
      end = i - 1;
      break;
    }
    if (byte === CR) {
      if (i + 1 < bytes.length && bytes[i + 1] !== LF) {
        return invalid("Invalid PROXY v1 header: CR without LF");
      }
    } else if (byte < 0x20 || byte > 0x7e) {
      return invalid("Invalid PROXY v1 header: a byte that is not printable ASCII");
    }
  }
  if (end < 0) {
    return bytes.length >= MAX_PROXY_V1_BYTES
      ? invalid(`PROXY v1 header too long: no CRLF in the first ${MAX_PROXY_V1_BYTES} bytes`)
      : NEED_MORE;
  }
  const line = latin1(bytes.subarray(0, end));
  const consumed = end + 2;
  const fields = line.split(" ");
  const protocol = fields[1];
  if (protocol === "UNKNOWN") {
    // The specification: the receiver must ignore anything after UNKNOWN.
    return { type: "header", header: { type: "unknown", version: 1 }, consumed };
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    return invalid(
      `Invalid PROXY v1 header: protocol ${excerpt(protocol)}, expected TCP4, TCP6 or UNKNOWN`,
    );
  }
  if (fields.length !== 6) {
    return invalid(
      `Invalid PROXY v1 header: ${fields.length - 2} fields after ${protocol}, expected 4`,
    );
  }
  const family = protocol === "TCP4" ? "IPv4" : "IPv6";
  const parse = family === "IPv4" ? parseIPv4 : parseIPv6;
  const hosts: string[] = [];
  for (const [index, what] of [[2, "source"], [3, "destination"]] as const) {
    const address = parse(fields[index]);
    if (address === undefined) {
      return invalid(
        `Invalid PROXY v1 header: ${what} address ${excerpt(fields[index], 40)} is not ${family}`,
      );
    }
    hosts.push(formatAddress(address));
  }
  const ports: number[] = [];
  for (const [index, what] of [[4, "source"], [5, "destination"]] as const) {
    const port = parsePort(fields[index]);
    if (port === undefined) {
      return invalid(
        `Invalid PROXY v1 header: ${what} port ${excerpt(fields[index])} is not 0 to 65535`,
      );
    }
    ports.push(port);
  }
  return {
    type: "header",
    header: {
      type: "proxy",
      version: 1,
      source: { family, hostname: hosts[0], port: ports[0] },
      destination: { family, hostname: hosts[1], port: ports[1] },
    },
    consumed,
  };
}

/** Address block sizes of v2 families: AF_INET, AF_INET6, AF_UNIX. */
const V2_ADDRESS_BYTES = [0, 12, 36, 216] as const;

function parseV2(bytes: Uint8Array): ProxyParse {
  if (bytes.length <= PROXY_V2_SIGNATURE.length) return NEED_MORE;
  const versionCommand = bytes[12];
  const version = versionCommand >> 4;
  const command = versionCommand & 0x0f;
  if (version !== 2) return invalid(`Invalid PROXY v2 header: version ${version}, expected 2`);
  if (command > 1) {
    return invalid(`Invalid PROXY v2 header: command ${command}, expected 0 (LOCAL) or 1 (PROXY)`);
  }
  if (bytes.length < 14) return NEED_MORE;
  const family = bytes[13] >> 4;
  const transport = bytes[13] & 0x0f;
  if (family > 3) return invalid(`Invalid PROXY v2 header: address family ${family}`);
  if (transport > 2) return invalid(`Invalid PROXY v2 header: transport ${transport}`);
  if (bytes.length < V2_FIXED_BYTES) return NEED_MORE;
  const length = (bytes[14] << 8) | bytes[15];
  if (length > MAX_V2_LENGTH) {
    return invalid(
      `PROXY v2 header too long: ${length} bytes after the fixed 16, the limit is ${MAX_V2_LENGTH}`,
    );
  }
  const consumed = V2_FIXED_BYTES + length;
  if (command === 0) {
    // LOCAL: the receiver must skip the declared length whatever it holds.
    if (bytes.length < consumed) return NEED_MORE;
    return { type: "header", header: { type: "local", version: 2 }, consumed };
  }
  if ((family === 0) !== (transport === 0)) {
    return invalid(
      `Invalid PROXY v2 header: address family ${family} with transport ${transport}`,
    );
  }
  // The address block's size is known now: a short declared length is wrong at once.
  const addressBytes = V2_ADDRESS_BYTES[family];
  if (length < addressBytes) {
    return invalid(
      `Invalid PROXY v2 header: length ${length}, the addresses of family ${family} need ${addressBytes}`,
    );
  }
  if (bytes.length < consumed) return NEED_MORE;
  const body = bytes.subarray(V2_FIXED_BYTES, consumed);
  const tlvs = checkTlvs(body.subarray(addressBytes));
  if (tlvs !== undefined) return invalid(tlvs);
  if (transport !== 1 || (family !== 1 && family !== 2)) {
    // AF_UNSPEC, AF_UNIX or datagrams: no TCP address to take; the specification lets
    // a receiver fall back to the connection's own addresses.
    return { type: "header", header: { type: "unknown", version: 2 }, consumed };
  }
  const size = family === 1 ? 4 : 16;
  const name = family === 1 ? "IPv4" : "IPv6";
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    type: "header",
    header: {
      type: "proxy",
      version: 2,
      source: {
        family: name,
        hostname: formatAddress(body.slice(0, size)),
        port: view.getUint16(2 * size),
      },
      destination: {
        family: name,
        hostname: formatAddress(body.slice(size, 2 * size)),
        port: view.getUint16(2 * size + 2),
      },
    },
    consumed,
  };
}

/** Checks that the TLVs fill `bytes` exactly; returns what is wrong, or undefined. */
function checkTlvs(bytes: Uint8Array): string | undefined {
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 3) {
      return `Invalid PROXY v2 header: ${bytes.length - offset} stray bytes after the TLVs`;
    }
    const type = bytes[offset];
    const length = (bytes[offset + 1] << 8) | bytes[offset + 2];
    offset += 3 + length;
    if (offset > bytes.length) {
      return `Invalid PROXY v2 header: TLV of type 0x${
        type.toString(16).padStart(2, "0")
      } runs past the header`;
    }
  }
  return undefined;
}

function parsePort(text: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** Dotted quad, each 0..255 without leading zeros, as 4 bytes. */
function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(parts[i])) return undefined;
    const value = Number(parts[i]);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

/** RFC 4291 text (`::` once, an IPv4 tail allowed) as 16 bytes. */
function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string, last: boolean): number[] | undefined => {
    if (part === "") return [];
    const words: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (last && i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        words.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1], true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/** 4 bytes as a dotted quad, 16 as RFC 5952 text (IPv4-mapped as `::ffff:a.b.c.d`). */
function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  if (words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  // The longest run of two or more zero words (the first of equals) becomes "::".
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (list: number[]) => list.map((word) => word.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}
