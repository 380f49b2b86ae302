// The finance review page in a real headless Chromium (Debian's /usr/bin/chromium), driven by
// playwright-core: it loads with no console errors and no request leaving the machine, its
// totals equal the API's, sorting and the empty state work, and screenshots are written to
// tests/output/ at desktop and phone widths.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.TOLLGATE_BIN || resolve(here, "../../build/tollgate");
const EXAMPLES = process.env.TOLLGATE_EXAMPLES || resolve(here, "../../deploy/examples");
const OUT = resolve(here, "../output");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

let daemon, base, dir, browser;

function isoDay(offsetDays) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + offsetDays);
  return d.toISOString().slice(0, 10);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tollgate-e2e-"));
  writeFileSync(join(dir, "prices.yaml"), readFileSync(join(EXAMPLES, "prices.yaml")));
  writeFileSync(join(dir, "policies.yaml"), readFileSync(join(EXAMPLES, "policies.yaml")));
  writeFileSync(join(dir, "tollgate.yaml"), [
    "server: {listen: 127.0.0.1:0, threads: 2}",
    "storage: {path: ledger.db}",
    "reporting: {currency: USD, timezone: UTC, fx: {CNY: {rate: 0.1389, as_of: 2026-11-20}}}",
    "prices_file: prices.yaml", "policies_file: policies.yaml", ""].join("\n"));
  daemon = spawn(BIN, ["serve", "--config", join(dir, "tollgate.yaml")], { stdio: ["ignore", "ignore", "pipe"] });
  base = await new Promise((ok, fail) => {
    let log = "";
    daemon.stderr.on("data", (chunk) => {
      log += chunk;
      const m = log.match(/listening on [^ ]+:(\d+)/);
      if (m) ok(`http://127.0.0.1:${m[1]}`);
    });
    daemon.on("exit", () => fail(new Error("daemon exited:\n" + log)));
  });
  // Usage over ten days for four features, yesterday the busiest.
  const features = [["support-chat", "alibaba", "qwen3-max"], ["search", "openai", "gpt-4o-mini"],
                    ["summarize", "anthropic", "claude-sonnet-4"], ["batch-embed", "alibaba", "qwen-plus"]];
  const events = [];
  for (let day = -10; day <= -1; day++) {
    features.forEach(([feature, provider, model], f) => {
      for (let i = 0; i < 3 + f + (day === -1 ? 5 : 0); i++)
        events.push({ event_id: `e${day}-${f}-${i}`, ts: `${isoDay(day)}T12:00:00Z`, feature, provider, model,
                      team: f % 2 ? "search" : "cx", input_tokens: 1000 * (f + 1) + i, output_tokens: 200 + 10 * i,
                      value_units: 1, revenue: 0.01 });
    });
  }
  const res = await fetch(base + "/v1/usage", { method: "POST", body: JSON.stringify(events), headers: { "Content-Type": "application/json" } });
  assert.equal((await res.json()).accepted, events.length);
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  daemon?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openPage(viewport) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("request", (r) => { if (!r.url().startsWith(base)) problems.push("outside request: " + r.url()); });
  return { page, problems };
}

test("the page loads clean and its totals equal the API's", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 800 });
  await page.goto(base + "/");
  await page.waitForSelector("body[data-loaded]");
  const api = await (await fetch(base + "/v1/reports/daily?group_by=feature")).json();
  assert.equal(await page.getAttribute("body", "data-loaded"), api.date, "defaults to yesterday");
  assert.equal(Number(await page.getAttribute('[data-card="Cost"]', "data-value")), api.total.cost);
  assert.equal(Number(await page.getAttribute('[data-card="Requests"]', "data-value")), api.total.requests);
  assert.equal(await page.locator("#features tbody tr").count(), api.rows.length);
  assert.equal(await page.locator("#budgets .budget").count(), 4);
  assert.ok(await page.locator("#chart svg rect").count() >= 30, "a stacked bar per feature and day");
  await page.screenshot({ path: join(OUT, "review-page-1280x800.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test("sorting by a column and the empty state", async () => {
  const { page, problems } = await openPage({ width: 1280, height: 800 });
  await page.goto(base + "/");
  await page.waitForSelector("body[data-loaded]");
  await page.click('th[data-key="feature"]');
  const names = await page.locator("#features tbody tr td:first-child").allTextContents();
  assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
  assert.equal(await page.getAttribute('th[data-key="feature"]', "aria-sort"), "ascending");
  await page.goto(base + "/?date=2020-01-01");
  await page.waitForSelector('body[data-loaded="2020-01-01"]');
  assert.match(await page.textContent("#features"), /No usage recorded on 2020-01-01/);
  assert.match(await page.textContent("#chart"), /No cost recorded/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("it reads well at phone width", async () => {
  const { page, problems } = await openPage({ width: 390, height: 844 });
  await page.goto(base + "/");
  await page.waitForSelector("body[data-loaded]");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: join(OUT, "review-page-390x844.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});
