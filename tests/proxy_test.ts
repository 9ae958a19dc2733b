import assert from "node:assert/strict";
import {
  MAX_PROXY_V1_BYTES,
  MAX_PROXY_V2_BYTES,
  parseProxyHeader,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  type ProxyParse,
} from "../proxy.ts";
import { serve } from "../server.ts";
import type { ConnectionEvent } from "../server.ts";
import { createLogger } from "../log.ts";
import {
  encode,
  readLines,
  readStreamUntil,
  readToEnd,
  spawnCli,
  withTimeout,
  writeText,
} from "./helpers.ts";

const TRAILER = encode("PARAMS 1 5\nNUMBER\n");

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), family/transport byte, then `body`. */
function v2(command: number, familyTransport: number, body: number[], length = body.length) {
  return Uint8Array.from([
    ...PROXY_V2_SIGNATURE,
    0x20 | command,
    familyTransport,
    length >> 8,
    length & 0xff,
    ...body,
  ]);
}

/** IPv4 source 192.0.2.1:5000, destination 198.51.100.2:4321. */
const INET_BODY = [192, 0, 2, 1, 198, 51, 100, 2, 0x13, 0x88, 0x10, 0xe1];
/** IPv6 source 2001:db8::1:5000, destination ::1:4321. */
const INET6_BODY = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  ...[0x13, 0x88, 0x10, 0xe1],
];

const IPV4_PROXY: ProxyHeader = {
  type: "proxy",
  version: 2,
  source: { family: "IPv4", hostname: "192.0.2.1", port: 5000 },
  destination: { family: "IPv4", hostname: "198.51.100.2", port: 4321 },
};

interface Valid {
  name: string;
  bytes: Uint8Array;
  header: ProxyHeader;
}

const VALID: Valid[] = [
  {
    name: "v1 TCP4",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.2 5000 4321\r\n"),
    header: { ...IPV4_PROXY, version: 1 },
  },
  {
    name: "v1 TCP6, written out in full and in upper case",
    bytes: encode(
      "PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::1 5000 4321\r\n",
    ),
    header: {
      type: "proxy",
      version: 1,
      source: { family: "IPv6", hostname: "2001:db8::1", port: 5000 },
      destination: { family: "IPv6", hostname: "::1", port: 4321 },
    },
  },
  {
    name: "v1 TCP6 with an IPv4 tail, ports 0 and 65535",
    bytes: encode("PROXY TCP6 ::ffff:192.0.2.1 1:0:0:2:0:0:0:3 0 65535\r\n"),
    header: {
      type: "proxy",
      version: 1,
      source: { family: "IPv6", hostname: "::ffff:192.0.2.1", port: 0 },
      destination: { family: "IPv6", hostname: "1:0:0:2::3", port: 65535 },
    },
  },
  {
    name: "v1 UNKNOWN, short form",
    bytes: encode("PROXY UNKNOWN\r\n"),
    header: { type: "unknown", version: 1 },
  },
  {
    name: "v1 UNKNOWN, long form of the maximal length",
    bytes: encode(
      `PROXY UNKNOWN ${"ffff:".repeat(7)}ffff ${"ffff:".repeat(7)}ffff 65535 65535\r\n`,
    ),
    header: { type: "unknown", version: 1 },
  },
  { name: "v2 PROXY AF_INET", bytes: v2(1, 0x11, INET_BODY), header: IPV4_PROXY },
  {
    name: "v2 PROXY AF_INET6",
    bytes: v2(1, 0x21, INET6_BODY),
    header: {
      type: "proxy",
      version: 2,
      source: { family: "IPv6", hostname: "2001:db8::1", port: 5000 },
      destination: { family: "IPv6", hostname: "::1", port: 4321 },
    },
  },
  {
    name: "v2 PROXY AF_INET with TLVs (ALPN, an empty NOOP, authority)",
    bytes: v2(1, 0x11, [
      ...INET_BODY,
      ...[0x01, 0, 2, 0x68, 0x32],
      ...[0x04, 0, 0],
      ...[0x02, 0, 3, 0x61, 0x2e, 0x62],
    ]),
    header: IPV4_PROXY,
  },
  { name: "v2 LOCAL, no addresses", bytes: v2(0, 0x00, []), header: { type: "local", version: 2 } },
  {
    name: "v2 LOCAL with an address block, which it skips",
    bytes: v2(0, 0x11, INET_BODY),
    header: { type: "local", version: 2 },
  },
  {
    name: "v2 PROXY AF_UNSPEC",
    bytes: v2(1, 0x00, []),
    header: { type: "unknown", version: 2 },
  },
  {
    name: "v2 PROXY AF_UNIX stream: no TCP address",
    bytes: v2(1, 0x31, new Array(216).fill(0)),
    header: { type: "unknown", version: 2 },
  },
  {
    name: "v2 PROXY UDP over AF_INET: no TCP address",
    bytes: v2(1, 0x12, INET_BODY),
    header: { type: "unknown", version: 2 },
  },
  {
    name: "v2 of the largest accepted length",
    bytes: v2(1, 0x11, [...INET_BODY, 0x04, 0x01, 0xf9, ...new Array(505).fill(0)]),
    header: IPV4_PROXY,
  },
];

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

for (const { name, bytes, header } of VALID) {
  Deno.test(`parseProxyHeader() accepts ${name}, whole`, () => {
    assert.deepEqual(parseProxyHeader(bytes), { type: "header", header, consumed: bytes.length });
  });
  Deno.test(`parseProxyHeader() accepts ${name}, byte by byte`, () => {
    for (let n = 0; n < bytes.length; n++) {
      assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { type: "need-more" }, `${n} bytes`);
    }
    assert.deepEqual(parseProxyHeader(bytes), { type: "header", header, consumed: bytes.length });
  });
  Deno.test(`parseProxyHeader() accepts ${name}, with trailing bytes left unconsumed`, () => {
    const verdict = parseProxyHeader(concat(bytes, TRAILER));
    assert.deepEqual(verdict, { type: "header", header, consumed: bytes.length });
  });
}

interface Invalid {
  name: string;
  bytes: Uint8Array;
  message: RegExp;
}

const INVALID: Invalid[] = [
  {
    name: "a game command",
    bytes: encode("NUMBER\n"),
    message: /^Missing PROXY header: .*got "NUMBER\\n/,
  },
  {
    name: "a v1 header in lower case",
    bytes: encode("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    message: /^Missing PROXY header/,
  },
  {
    name: "a bad v2 signature",
    bytes: Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x55]),
    message: /^Missing PROXY header/,
  },
  {
    name: "v1 ending in LF alone",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.2 5000 4321\n"),
    message: /LF without CR/,
  },
  {
    name: "v1 with a control byte",
    bytes: encode("PROXY TCP4 192.0.2.1\t198.51.100.2 5000 4321\r\n"),
    message: /not printable ASCII/,
  },
  {
    name: "v1 with no CRLF in 107 bytes",
    bytes: encode(`PROXY UNKNOWN ${"x".repeat(MAX_PROXY_V1_BYTES)}\r\n`),
    message: /^PROXY v1 header too long: no CRLF in the first 107 bytes/,
  },
  {
    name: "v1 with an unknown protocol",
    bytes: encode("PROXY UDP4 192.0.2.1 198.51.100.2 5000 4321\r\n"),
    message: /protocol "UDP4", expected TCP4, TCP6 or UNKNOWN/,
  },
  {
    name: "v1 with a field missing",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.2 5000\r\n"),
    message: /3 fields after TCP4, expected 4/,
  },
  {
    name: "v1 with a doubled space",
    bytes: encode("PROXY TCP4 192.0.2.1  198.51.100.2 5000 4321\r\n"),
    message: /5 fields after TCP4, expected 4/,
  },
  {
    name: "v1 with a leading zero in an IPv4 address",
    bytes: encode("PROXY TCP4 192.0.2.01 198.51.100.2 5000 4321\r\n"),
    message: /source address "192.0.2.01" is not IPv4/,
  },
  {
    name: "v1 with an IPv4 byte over 255",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.256 5000 4321\r\n"),
    message: /destination address "198.51.100.256" is not IPv4/,
  },
  {
    name: "v1 TCP4 with an IPv6 address",
    bytes: encode("PROXY TCP4 ::1 198.51.100.2 5000 4321\r\n"),
    message: /source address "::1" is not IPv4/,
  },
  {
    name: "v1 TCP6 with two double colons",
    bytes: encode("PROXY TCP6 1::2::3 ::1 5000 4321\r\n"),
    message: /source address "1::2::3" is not IPv6/,
  },
  {
    name: "v1 TCP6 with nine groups",
    bytes: encode("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 5000 4321\r\n"),
    message: /is not IPv6/,
  },
  {
    name: "v1 with a port over 65535",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.2 65536 4321\r\n"),
    message: /source port "65536" is not 0 to 65535/,
  },
  {
    name: "v1 with a leading zero in a port",
    bytes: encode("PROXY TCP4 192.0.2.1 198.51.100.2 5000 04321\r\n"),
    message: /destination port "04321"/,
  },
  {
    name: "v2 of version 1",
    bytes: Uint8Array.from([...PROXY_V2_SIGNATURE, 0x11, 0x11, 0, 12, ...INET_BODY]),
    message: /version 1, expected 2/,
  },
  { name: "v2 with command 2", bytes: v2(2, 0x11, INET_BODY), message: /command 2/ },
  { name: "v2 with address family 4", bytes: v2(1, 0x41, INET_BODY), message: /address family 4/ },
  { name: "v2 with transport 3", bytes: v2(1, 0x13, INET_BODY), message: /transport 3/ },
  {
    name: "v2 AF_INET with transport UNSPEC",
    bytes: v2(1, 0x10, INET_BODY),
    message: /address family 1 with transport 0/,
  },
  {
    name: "v2 AF_INET shorter than its addresses",
    bytes: v2(1, 0x11, INET_BODY.slice(0, 8)),
    message: /length 8, the addresses of family 1 need 12/,
  },
  {
    name: "v2 AF_INET6 shorter than its addresses",
    bytes: v2(1, 0x21, INET_BODY),
    message: /length 12, the addresses of family 2 need 36/,
  },
  {
    name: "v2 declaring more than the limit",
    bytes: v2(1, 0x11, INET_BODY, MAX_PROXY_V2_BYTES - 16 + 1),
    message: /^PROXY v2 header too long: 521 bytes after the fixed 16, the limit is 520/,
  },
  {
    name: "v2 declaring 65535 bytes",
    bytes: v2(1, 0x11, INET_BODY, 0xffff),
    message: /^PROXY v2 header too long: 65535/,
  },
  {
    name: "v2 with a TLV that runs past the header",
    bytes: v2(1, 0x11, [...INET_BODY, 0x01, 0, 5, 0x68, 0x32]),
    message: /TLV of type 0x01 runs past the header/,
  },
  {
    name: "v2 with stray bytes after the TLVs",
    bytes: v2(1, 0x11, [...INET_BODY, 0x04, 0, 0, 0x01, 0]),
    message: /2 stray bytes after the TLVs/,
  },
];

function assertInvalid(verdict: ProxyParse, message: RegExp, what: string): void {
  assert.equal(verdict.type, "invalid", `${what}: ${JSON.stringify(verdict)}`);
  if (verdict.type !== "invalid") return;
  assert.match(verdict.message, message, what);
  assert.match(verdict.message, /^[A-Z]/, "starts uppercase");
  assert.match(verdict.message, /^[\x20-\x7e]*[^.]$/, "printable ASCII, no final period");
}

for (const { name, bytes, message } of INVALID) {
  Deno.test(`parseProxyHeader() rejects ${name}, whole`, () => {
    assertInvalid(parseProxyHeader(bytes), message, "whole");
  });
  Deno.test(`parseProxyHeader() rejects ${name}, byte by byte, never past the bound`, () => {
    let first = -1;
    for (let n = 0; n <= bytes.length; n++) {
      const verdict = parseProxyHeader(bytes.subarray(0, n));
      assert.notEqual(verdict.type, "header", `${n} bytes`);
      if (verdict.type === "invalid" && first < 0) first = n;
      if (first >= 0) assertInvalid(verdict, /./, `${n} bytes`);
    }
    assert.ok(first > 0 && first <= MAX_PROXY_V2_BYTES, `decided at ${first} bytes`);
  });
  Deno.test(`parseProxyHeader() rejects ${name}, with trailing bytes`, () => {
    assertInvalid(parseProxyHeader(concat(bytes, TRAILER)), message, "with trailing bytes");
  });
}

Deno.test("parseProxyHeader() rejects a v2 header cut short once it can tell", () => {
  // Truncated: the declared length is larger than what arrives; the parser
  // keeps asking for more, and the server's idle timeout ends the wait.
  const whole = v2(1, 0x11, INET_BODY);
  assert.deepEqual(parseProxyHeader(whole.subarray(0, whole.length - 1)), { type: "need-more" });
  assert.equal(parseProxyHeader(whole.subarray(0, 17)).type, "need-more");
});

Deno.test("parseProxyHeader() rejects a game command as soon as it cannot be a header", () => {
  assertInvalid(parseProxyHeader(encode("N")), /"N"/, "N");
  assertInvalid(parseProxyHeader(encode("R")), /"R"/, "R");
  assert.deepEqual(parseProxyHeader(encode("P")), { type: "need-more" }, "P could be PROXY");
  assertInvalid(parseProxyHeader(encode("PA")), /^Missing PROXY header: .*"PA"/, "PA");
});

Deno.test("parseProxyHeader() waits for nothing on an empty buffer", () => {
  assert.deepEqual(parseProxyHeader(new Uint8Array(0)), { type: "need-more" });
});

// serve({ proxyProtocol: true }): the header comes first, then the game.

const LOCAL = "127.0.0.1";

/** A server expecting PROXY headers; its log lines and open/close events are collected. */
function proxyServer(proxyProtocol = true) {
  const lines: string[] = [];
  const events: ConnectionEvent[] = [];
  const waiters: [(event: ConnectionEvent) => boolean, (event: ConnectionEvent) => void][] = [];
  const server = serve({
    port: 0,
    proxyProtocol,
    logger: createLogger({ format: "json", verbose: true, write: (line) => lines.push(line) }),
    onConnection: (event) => {
      events.push(event);
      for (const waiter of [...waiters]) {
        if (waiter[0](event)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter[1](event);
        }
      }
    },
  });
  /** The first event (past or future) that fits. */
  const event = (fits: (event: ConnectionEvent) => boolean): Promise<ConnectionEvent> => {
    const seen = events.find(fits);
    if (seen) return Promise.resolve(seen);
    return withTimeout(new Promise((resolve) => waiters.push([fits, resolve])), 5_000, "event");
  };
  return { server, lines, events, event };
}

async function dial(port: number): Promise<Deno.TcpConn> {
  const conn = await withTimeout(Deno.connect({ hostname: LOCAL, port }), 2_000, "connecting");
  conn.setNoDelay(true);
  return conn;
}

Deno.test("serve({ proxyProtocol }) takes the client address from a v2 header sent with the first commands", async () => {
  const { server, lines, event } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, concat(v2(1, 0x11, INET_BODY), encode("PARAMS 1 1\nNUMBER\n")));
  assert.equal(await readLines(conn, 1), "1\n");
  const open = await event((e) => e.type === "open");
  assert.equal(open.remote, "192.0.2.1:5000");
  const logged = lines.map((line) => JSON.parse(line)).find((l) => l.msg === "Connection opened");
  assert.equal(logged?.remote, "192.0.2.1:5000");
  assert.match(logged?.via, /^127\.0\.0\.1:\d+$/);
  conn.close();
  const close = await event((e) => e.type === "close");
  assert.equal(close.remote, "192.0.2.1:5000");
});

Deno.test("serve({ proxyProtocol }) reads a v1 IPv6 header that arrives in pieces", async () => {
  const { server, event } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  const header = encode("PROXY TCP6 2001:db8::7 ::1 40000 4321\r\n");
  await writeText(conn, header.subarray(0, 9));
  await writeText(conn, header.subarray(9, 30));
  await writeText(conn, concat(header.subarray(30), encode("PARAMS 7 7\n")));
  await writeText(conn, "NUMBER\n");
  assert.equal(await readLines(conn, 1), "7\n");
  assert.equal((await event((e) => e.type === "open")).remote, "[2001:db8::7]:40000");
});

Deno.test("serve({ proxyProtocol }) keeps the TCP peer's address for a v2 LOCAL health check", async () => {
  const { server, event } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, concat(v2(0, 0x00, []), encode("PARAMS 1 1\nNUMBER\nPARAMS 0 -1\n")));
  assert.equal(await readLines(conn, 1), "1\n");
  const open = await event((e) => e.type === "open");
  assert.equal(open.remote, `${LOCAL}:${conn.localAddr.port}`);
});

Deno.test("serve({ proxyProtocol }) answers commands without a header with ERROR and closes", async () => {
  const { server, events } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, "PARAMS 1 1\nNUMBER\n");
  const text = await readToEnd(conn);
  assert.match(text, /^ERROR Missing PROXY header: the connection must start with "PROXY " or/);
  assert.equal(text.split("\n").length, 2, "one line, then the close");
  assert.equal(events.filter((e) => e.type === "open").length, 0, "never opened");
});

Deno.test("serve({ proxyProtocol }) answers an invalid v1 header with ERROR and closes", async () => {
  const { server, lines } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, "PROXY TCP4 10.0.0.1\r\n 10.0.0.2 1 2\r\nPARAMS 1 1\nNUMBER\n");
  assert.equal(
    await readToEnd(conn),
    "ERROR Invalid PROXY v1 header: 1 fields after TCP4, expected 4\n",
  );
  assert.ok(lines.some((line) => JSON.parse(line).msg === "Invalid PROXY header, closing"));
  assert.equal(server.metrics.protocolErrors.get({ kind: "bad_proxy_header" }), 1);
  assert.equal(server.metrics.protocolErrors.get({ kind: "other" }), 0);
});

Deno.test("serve({ proxyProtocol }) refuses a header over 107 bytes without waiting for more", async () => {
  const { server } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, `PROXY UNKNOWN ${"x".repeat(200)}`);
  assert.equal(
    await readToEnd(conn),
    "ERROR PROXY v1 header too long: no CRLF in the first 107 bytes\n",
  );
});

Deno.test("serve({ proxyProtocol }) answers a header cut short by the client's close", async () => {
  const { server } = proxyServer();
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, v2(1, 0x11, INET_BODY).subarray(0, 20));
  await conn.closeWrite();
  assert.equal(await readToEnd(conn), "ERROR Incomplete PROXY header: the connection ended\n");
});

Deno.test("serve() without proxyProtocol treats a PROXY line as an unknown command", async () => {
  const { server, event } = proxyServer(false);
  await using _ = server;
  using conn = await dial(server.addr.port);
  await writeText(conn, "PROXY TCP4 192.0.2.1 198.51.100.2 5000 4321\r\nPARAMS 1 1\nNUMBER\n");
  const text = await readLines(conn, 2);
  assert.match(text, /^ERROR Unknown command "PROXY": expected PARAMS, NUMBER or REPORT\n1\n$/);
  assert.equal((await event((e) => e.type === "open")).remote, `${LOCAL}:${conn.localAddr.port}`);
});

Deno.test("serve --proxy-protocol logs the client a PROXY v1 header names", async () => {
  await using child = spawnCli(
    ["serve", "--port", "0", "--proxy-protocol", "--log-format", "json", "--verbose"],
    ["--allow-net"],
  );
  const stderr = child.stderr.getReader();
  const stdout = new Response(child.stdout).text();
  try {
    const listening = await readStreamUntil(stderr, (text) => /Listening on \S+"/.test(text));
    const port = Number(/Listening on 127\.0\.0\.1:(\d+)/.exec(listening)?.[1]);
    {
      using conn = await dial(port);
      await writeText(conn, "PROXY TCP4 203.0.113.9 127.0.0.1 6000 4321\r\nPARAMS 2 2\nNUMBER\n");
      assert.equal(await readLines(conn, 1), "2\n");
    }
    const log = await readStreamUntil(stderr, (text) => text.includes("Connection closed"));
    const opened = (listening + log).split("\n").filter((line) => line.includes("opened"));
    assert.equal(opened.length, 1, log);
    assert.equal(JSON.parse(opened[0]).remote, "203.0.113.9:6000");
    child.kill("SIGTERM");
    assert.equal((await withTimeout(child.status, 5_000, "serve exiting")).code, 0);
    assert.equal(await stdout, "");
  } finally {
    await stderr.cancel();
  }
});
