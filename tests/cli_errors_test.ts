import assert from "node:assert/strict";
import { main } from "../main.ts";

const LOCAL = "127.0.0.1";

/** Runs the CLI in-process; returns the status and the lines of each stream. */
async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, out, err };
}

Deno.test("serve on a busy port names the address and suggests --port 0", async () => {
  using taken = Deno.listen({ hostname: LOCAL, port: 0 });
  const port = taken.addr.port;
  const { status, out, err } = await run("serve", "--port", String(port));
  assert.equal(status, 1);
  assert.deepEqual(out, []);
  assert.deepEqual(err, [
    `guess: Cannot listen on 127.0.0.1:${port}: address already in use; ` +
    "pick another --port, or --port 0 for any free one",
  ]);
});

Deno.test("serve --http on a busy port names the HTTP address and --http", async () => {
  using taken = Deno.listen({ hostname: LOCAL, port: 0 });
  const port = taken.addr.port;
  const { status, err } = await run("serve", "--port", "0", "--http", `${LOCAL}:${port}`);
  assert.equal(status, 1);
  assert.deepEqual(err, [
    `guess: Cannot listen on 127.0.0.1:${port}: address already in use; ` +
    "pick another --http, or --http 0 for any free one",
  ]);
});

Deno.test("serve --log-format json reports a fatal start-up error as one JSON line, exit 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const err: string[] = [];
  const status = await main(
    ["serve", "--port", String(taken.addr.port), "--log-format", "json"],
    { out: () => {}, err: (line) => err.push(line) },
  );
  assert.equal(status, 1);
  assert.equal(err.length, 1, err.join("\n"));
  const line = JSON.parse(err[0]);
  assert.equal(line.level, "error");
  assert.equal(line.fatal, true);
  assert.match(
    line.msg,
    new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${taken.addr.port}: address already in use`),
  );
});
