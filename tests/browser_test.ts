// The game page in a real browser: tests/browser/drive.ts drives headless
// Chromium (the Debian package) through playwright-core against an
// in-process `serve({ http })` on port 0. It runs in a subprocess with
// --allow-all, which playwright-core needs under Deno; see its header. Skips,
// with the reason printed, only when no Chromium is installed.

import assert from "node:assert/strict";
import { decode } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const DRIVER = new URL("./browser/drive.ts", import.meta.url).pathname;

function chromiumMissing(): string | undefined {
  try {
    Deno.statSync(CHROMIUM);
    return undefined;
  } catch (error) {
    return `${CHROMIUM} not found (${(error as Error).name}): install the Debian package chromium`;
  }
}

const missing = chromiumMissing();
if (missing) console.log(`browser_test.ts skipped: ${missing}`);

Deno.test({
  name: "the page plays whole games in Chromium: clicks, keys, a contradiction, undo",
  ignore: missing !== undefined,
  async fn() {
    const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-prompt", DRIVER],
      stdin: "null",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(120_000),
    }).output();
    const output = `${decode(stdout)}${decode(stderr)}`;
    assert.equal(signal, null, `the driver was killed (over 120 s):\n${output}`);
    assert.equal(code, 0, output);
    assert.match(decode(stdout), /^browser: every check passed$/m);
  },
});
