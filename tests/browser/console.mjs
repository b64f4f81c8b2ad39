// Drives the web console in Debian's headless Chromium (playwright-core, no downloaded
// browser) and prints what a person would see, as one JSON document on stdout, for
// tests/tests/console.rs to compare with the API. Screenshots go to OUT_DIR.
//
//   CONSOLE_URL=http://127.0.0.1:8000 API_KEY=... OUT_DIR=dir node tests/browser/console.mjs
//   (CHROMIUM: the browser binary, /usr/bin/chromium by default; PLAYWRIGHT_CORE: the module)
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const url = process.env.CONSOLE_URL;
const key = process.env.API_KEY;
const out = process.env.OUT_DIR;
const step = process.env.STEP || "all";
if (!url || !key || !out) throw new Error("CONSOLE_URL, API_KEY and OUT_DIR are required");

// The flags that work on a closed network (no GPU, no sandbox in a container, nothing that
// phones home), and a profile of its own.
const profile = mkdtempSync(join(tmpdir(), "orator-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
  viewport: { width: 1280, height: 900 },
});
// Uncaught exceptions and console errors, and every answer >= 400 (the bad-key step expects
// its 401s; the test says which failures are expected).
const result = { console_errors: [], failed_responses: [] };
try {
  const page = await context.newPage();
  page.on("pageerror", (e) => result.console_errors.push(String(e)));
  page.on("console", (m) => {
    // A failed fetch is reported below with its URL, not as this generic line.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) result.console_errors.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400) result.failed_responses.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });

  if (step === "all" || step === "playground") {
    await page.goto(`${url}/#playground`);
    result.title = await page.title();
    // The key goes in through its labelled field, as a person (or a screen reader) finds it.
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Use key" }).click();
    await page.waitForFunction(() => document.querySelectorAll("#voice optgroup").length > 1);
    result.voice_groups = await page.$$eval("#voice optgroup", (gs) => gs.map((g) => g.label));
    await page.getByLabel("Text").fill("The console speaks. Then it listens.");
    await page.getByLabel("Format").selectOption("wav");
    await page.getByRole("button", { name: "Speak" }).click();
    await page.waitForSelector("#result:not([hidden])", { timeout: 30000 });
    result.audio_duration = await page.$eval("#player", (audio) =>
      new Promise((resolve) => {
        if (audio.readyState >= 1 && audio.duration > 0) return resolve(audio.duration);
        audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
        audio.addEventListener("error", () => resolve(-1), { once: true });
      }));
    result.audio_src = await page.$eval("#player", (a) => a.currentSrc);
    for (const field of ["cache", "trace", "latency", "first-byte", "size"]) {
      result[field.replace("-", "_")] = await page.textContent(`#${field}`);
    }
    await page.screenshot({ path: join(out, "console-playground.png"), fullPage: true });

    // MP3 plays while it streams: the first sentence is playable before the last arrives.
    await page.$eval("#player", (p) => { delete p.dataset.completeAfterMs; delete p.dataset.playableAfterMs; });
    await page.getByLabel("Text").fill(
      "The first sentence is short. The second one takes a little longer to say. " +
      "A third sentence follows it. And a fourth closes the stream.");
    await page.getByLabel("Format").selectOption("mp3");
    await page.getByRole("button", { name: "Speak" }).click();
    await page.waitForFunction(() => {
      const p = document.querySelector("#player");
      return p.dataset.completeAfterMs && !document.querySelector("#speak").disabled;
    }, null, { timeout: 30000 });
    result.mp3 = await page.$eval("#player", (audio) =>
      new Promise((resolve) => {
        const seen = () => resolve({
          streamed: audio.dataset.streamed,
          playable_after_ms: Number(audio.dataset.playableAfterMs),
          complete_after_ms: Number(audio.dataset.completeAfterMs),
          duration: audio.duration,
          src: audio.currentSrc,
        });
        if (Number.isFinite(audio.duration) && audio.duration > 0) return seen();
        audio.addEventListener("durationchange", seen, { once: true });
        setTimeout(seen, 5000);
      }));

    // A bad key: the page says what went wrong.
    await page.getByLabel("API key").fill("ork_not_a_key");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("button", { name: "Speak" }).click();
    await page.waitForSelector("#speak-error:not([hidden])");
    result.bad_key_error = await page.textContent("#speak-error");
    result.error_role = await page.getAttribute("#speak-error", "role");
  }

  if (step === "all" || step === "status") {
    await page.goto(`${url}/#playground`);
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("link", { name: "Status" }).click();
    await page.waitForFunction(() => document.querySelector("#updated").textContent !== "never");
    await page.waitForFunction(() => document.querySelector("#queues tbody tr td:nth-child(2)"));
    result.readiness = await page.textContent("#readiness");
    const table = (id) => page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    result.checks = await table("checks");
    result.queues = await table("queues");
    result.slos = await table("slos");
    result.jobs = await table("jobs");
    result.alerts = await page.$$eval("#alerts li", (items) => items.map((li) => li.textContent));
    result.in_flight = await page.textContent("#in-flight");
    await page.screenshot({ path: join(out, "console-status.png"), fullPage: true });
    // The same page on a phone-sized screen: nothing wider than the viewport.
    await page.setViewportSize({ width: 390, height: 844 });
    result.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: join(out, "console-status-phone.png"), fullPage: true });
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
