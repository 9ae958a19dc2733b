// Drives the game page in headless Chromium (the Debian package) with
// playwright-core against `serve({ http })` on port 0, in this process:
// plays by clicks and by keys, makes answers contradict, undoes, checks the
// phone width and dark mode, and saves docs/screenshot.png. Throws (exit 1) on
// the first failed check. tests/browser_test.ts runs it in a subprocess with
// --allow-all, which playwright-core needs under Deno (it reads
// /proc/sys/fs/binfmt_misc at import time, a path only --allow-all opens).
//
//   deno run -A tests/browser/drive.ts

import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { BisectStrategy } from "../../bisect.ts";
import { type Decision, judge } from "../../protocol.ts";
import { serve } from "../../server.ts";

/** Where Debian's chromium package puts the browser. */
const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = new URL("../../docs/screenshot.png", import.meta.url);

/** A browser with a fresh profile, closed and removed on disposal. */
async function launch(): Promise<BrowserContext & AsyncDisposable> {
  const profile = await Deno.makeTempDir({ prefix: "guess-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 720, height: 900 },
  });
  return Object.assign(context, {
    async [Symbol.asyncDispose]() {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  });
}

/** The page once it is no longer waiting for the server. */
async function settled(page: Page): Promise<string> {
  await page.waitForSelector('body:not([data-state="busy"])');
  return (await page.getAttribute("body", "data-state"))!;
}

async function shownGuess(page: Page): Promise<number> {
  return Number(await page.textContent("#guess"));
}

/** The answers a truthful person gives for `secret`, by the client's rule. */
function honest(secret: number): (guess: number) => Decision {
  let previous: bigint | undefined;
  return (guess) => {
    const verdict = judge(secret, guess, previous);
    previous = verdict.distance;
    return verdict.decision;
  };
}

/** How many guesses bisect needs for `secret` in [lower, upper], played here without the page. */
function bisectGuesses(lower: number, upper: number, secret: number): number[] {
  const strategy = new BisectStrategy(lower, upper);
  const answer = honest(secret);
  const guesses: number[] = [];
  for (;;) {
    const guess = strategy.next();
    guesses.push(guess);
    const decision = answer(guess);
    strategy.report(guess, decision);
    if (decision === "Correct") return guesses;
  }
}

/** Plays the whole scenario; throws on the first failed check. */
async function drive(): Promise<void> {
  await using server = serve({ port: 0, http: { port: 0 }, onListen: () => {} });
  const base = `http://127.0.0.1:${server.httpAddr!.port}/`;
  await using browser = await launch();
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(base);
  assert.equal(await settled(page), "idle");

  // 1. Secret 73 in 1..100 with bisect (the default), by clicking.
  const expected = bisectGuesses(1, 100, 73);
  assert.equal(await page.inputValue("#strategy"), "bisect");
  await page.click("#new-game");
  assert.equal(await settled(page), "asking");
  const answer = honest(73);
  const seen: number[] = [];
  for (let state = "asking"; state === "asking"; state = await settled(page)) {
    const guess = await shownGuess(page);
    seen.push(guess);
    assert.ok(seen.length <= expected.length, `more guesses than ${expected.join()}`);
    await page.click(`#answers button[data-decision="${answer(guess)}"]`);
  }
  assert.deepEqual(seen, expected);
  assert.equal(await page.getAttribute("body", "data-state"), "won");
  assert.equal(await page.textContent("#message"), `Got it: 73, in ${expected.length} guesses`);
  assert.equal(await page.locator("#history li").count(), expected.length);
  assert.equal(
    await page.textContent("#status"),
    `Guess ${expected.length}, 1 number still possible`,
  );
  await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });

  // 2. Secret 600 in 1..1000, keyboard only: type the range, Enter, then w/c/u/y.
  await page.focus("#upper");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("1000");
  await page.keyboard.press("Enter");
  assert.equal(await settled(page), "asking");
  // The page moved the focus out of the form: the keys are answers now.
  assert.equal(await page.evaluate("document.activeElement.id"), "game");
  const keyOf: Record<Decision, string> = { Warmer: "w", Colder: "c", Unsure: "u", Correct: "y" };
  const byKeys = honest(600);
  let guesses = 0;
  for (let state = "asking"; state === "asking"; state = await settled(page)) {
    await page.keyboard.press(keyOf[byKeys(await shownGuess(page))]);
    guesses++;
    assert.ok(guesses <= 12, "bisect needs at most 12 guesses for 1..1000");
  }
  assert.equal(guesses, bisectGuesses(1, 1000, 600).length);
  assert.equal(await page.textContent("#message"), `Got it: 600, in ${guesses} guesses`);

  // 3. Answers that contradict each other: truthful for 90, then for 10.
  await page.fill("#upper", "100");
  await page.focus("#game");
  await page.keyboard.press("n");
  assert.equal(await settled(page), "asking");
  const first = honest(90);
  for (let i = 0; i < 3; i++) {
    await page.click(`#answers button[data-decision="${first(await shownGuess(page))}"]`);
    assert.equal(await settled(page), "asking");
  }
  const liar = honest(10);
  let state = "asking";
  let answered = 3;
  while (state === "asking") {
    const guess = await shownGuess(page);
    const decision = liar(guess);
    // The liar's first answer has no previous guess of its own to compare: use Colder.
    await page.click(`#answers button[data-decision="${answered === 3 ? "Colder" : decision}"]`);
    answered++;
    state = await settled(page);
    assert.ok(answered < 20, "the answers never contradicted each other");
  }
  assert.equal(state, "contradiction");
  const message = (await page.textContent("#message"))!;
  assert.match(message, /^Your answers contradict each other: #\d+ \(.+\)( and|,) /);
  assert.ok(message.includes(`#${answered} (`), message);
  assert.match(message, /no number from 1 to 100 fits/);
  assert.ok((await page.locator("#history li.conflict").count()) >= 2);
  assert.equal(await page.isDisabled('#answers button[data-decision="Warmer"]'), true);

  // 4. Undo the contradicting answer: the same guess is asked again.
  const undone = Number((await page.locator("#history li").last().textContent())!.split(":")[0]);
  await page.click("#undo");
  assert.equal(await settled(page), "asking");
  assert.equal(await page.locator("#history li").count(), answered - 1);
  assert.equal(await shownGuess(page), undone);
  assert.equal(await page.textContent("#message"), "");
  assert.match((await page.textContent("#status"))!, new RegExp(`^Guess ${answered}, [1-9]`));

  // 5. A phone's width: nothing wider than the screen; dark mode is dark.
  await page.setViewportSize({ width: 360, height: 740 });
  assert.equal(
    await page.evaluate("document.documentElement.scrollWidth <= innerWidth"),
    true,
  );
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await page.evaluate("getComputedStyle(document.body).backgroundColor");
  await page.emulateMedia({ colorScheme: "light" });
  const light = await page.evaluate("getComputedStyle(document.body).backgroundColor");
  assert.notEqual(dark, light);
  assert.equal(dark, "rgb(21, 23, 26)");

  assert.deepEqual(problems, [], "no console errors (a CSP violation would be one)");
  assert.equal(server.metrics.gamesFinished.get({ strategy: "bisect" }), 2);
}

if (import.meta.main) {
  await drive();
  console.log("browser: every check passed");
}
