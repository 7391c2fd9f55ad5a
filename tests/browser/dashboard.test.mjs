// dashboard.test.mjs: end-to-end tests of the dashboard in real headless Chromium. Starts
// the real server ($SLUICE_BIN, a free port, a temporary data directory), drives the page
// as a user would (the editor, the buttons, the forms), posts events through the public
// API, and waits for what the page shows (DOM conditions, never fixed sleeps). Screenshots
// go to $SCREENSHOT_DIR. playwright-core is loaded from $PLAYWRIGHT_DIR (run.sh installs
// it into the build directory).

import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { PAGEVIEWS_DDL, T0, call, post, sql, startServer, stopServer, view } from "./server.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || path.resolve("screenshots");
const require = createRequire(path.join(process.env.PLAYWRIGHT_DIR || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");
const WAIT = { timeout: 10000 };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-browser-"));
fs.mkdirSync(SHOTS, { recursive: true });

// --- the browser ----------------------------------------------------------------------

let server;
let context;
let page;

before(async () => {
  server = await startServer({ data: path.join(tmp, "data") });
  context = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  page = await context.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await sql(server, PAGEVIEWS_DDL);
  await page.goto(server.url);
});

after(async () => {
  if (context) await context.close();
  if (server) await stopServer(server);
  fs.rmSync(tmp, { recursive: true, force: true });
});

// The live table as text, one array of cell texts per row.
const liveRows = () =>
  page.$$eval("#live tbody tr:not(.spacer)", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

async function waitForLiveRow(cells) {
  try {
    await page.waitForFunction(
      (want) => [...document.querySelectorAll("#live tbody tr")].some((tr) =>
        want.every((w, i) => tr.cells[i] && tr.cells[i].textContent === w)),
      cells, WAIT);
  } catch (e) {
    const state = await page.textContent("#live-state");
    throw new Error(`no live row ${JSON.stringify(cells)} (${state}): ` +
      `${JSON.stringify(await liveRows())}`, { cause: e });
  }
}

// --- tests ------------------------------------------------------------------------------

test("the stream list shows schema, events and watermark, refreshed live", async () => {
  const row = page.locator('#streams tbody tr[data-id="PAGEVIEWS"]');
  await row.waitFor(WAIT);
  assert.match(await row.textContent(), /VIEWTIME BIGINT, USERID VARCHAR, PAGEID VARCHAR/);
  await post(server, "PAGEVIEWS", [view("u1", "home", 0), view("u2", "home", 5000)]);
  await page.waitForFunction(() => {
    const tr = document.querySelector('#streams tbody tr[data-id="PAGEVIEWS"]');
    return tr && tr.cells[2].textContent === "2" && tr.cells[4].textContent === "2023-11-14 22:13:25";
  }, null, WAIT);
});

test("a query registered in the editor shows live rows and a live chart", async () => {
  await page.fill("#sql", "SELECT pageid, COUNT(*) AS views\nFROM pageviews\n" +
    "WINDOW TUMBLING (SIZE 1 MINUTE)\nGROUP BY pageid\nEMIT CHANGES;");
  await page.fill("#query-name", "PAGE_COUNTS");
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator('#live-state[data-state="live"]').waitFor(WAIT);
  assert.equal(await page.textContent("#query-id"), "PAGE_COUNTS");
  // The two stored events came through the query's history.
  await waitForLiveRow(["2023-11-14 22:13:00 – 22:14:00", "home", "2"]);
  assert.deepEqual(await page.$$eval("#live thead th", (ths) => ths.map((t) => t.textContent)),
    ["WINDOW", "PAGEID", "VIEWS"]);

  await post(server, "PAGEVIEWS", [view("u1", "news", 10000), view("u3", "home", 30000),
    view("u1", "home", 61000)]);
  await waitForLiveRow(["2023-11-14 22:13:00 – 22:14:00", "home", "3"]);
  await waitForLiveRow(["2023-11-14 22:14:00 – 22:15:00", "home", "1"]);
  assert.deepEqual((await liveRows()).sort(), [
    ["2023-11-14 22:13:00 – 22:14:00", "home", "3"],
    ["2023-11-14 22:13:00 – 22:14:00", "news", "1"],
    ["2023-11-14 22:14:00 – 22:15:00", "home", "1"],
  ]);
  // The chart: one series per page, x = WINDOWSTART.
  const canvas = page.locator("#chart");
  await canvas.waitFor(WAIT);
  await page.waitForFunction(() => document.querySelector("#chart").dataset.points === "3", null, WAIT);
  assert.equal(await canvas.getAttribute("data-series"), "2");
  assert.equal(await canvas.getAttribute("data-windows"), "2");
  assert.deepEqual(await page.$$eval("#chart-legend li", (lis) => lis.map((l) => l.textContent)),
    ["home 1", "news"]);

  // More groups than the chart shows: the smallest are folded into "other".
  await post(server, "PAGEVIEWS", ["a", "b", "c", "d", "e", "f"].map((p, i) =>
    view("u9", p, 62000 + i)));
  await page.waitForFunction(() => document.querySelector("#chart").dataset.series === "6", null, WAIT);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#chart-legend li")].some((li) => li.textContent.startsWith("other (")),
    null, WAIT);
  await page.locator("#chart-box").screenshot({ path: path.join(SHOTS, "chart.png") });
  await page.screenshot({ path: path.join(SHOTS, "dashboard.png"), fullPage: true });
});

test("the query list shows status and statistics", async () => {
  const row = page.locator('#queries tbody tr[data-id="PAGE_COUNTS"]');
  await page.waitForFunction(() => {
    const tr = document.querySelector('#queries tbody tr[data-id="PAGE_COUNTS"]');
    return tr && tr.cells[2].textContent === "11" && tr.cells[6].textContent === "1";
  }, null, WAIT);
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], "PAGE_COUNTS");
  assert.equal(cells[1], "running");
  assert.equal(cells[4], "0"); // late rows
  assert.match(cells[5], /^\d+(\.\d)? (B|KiB)$/);
});

test("the plan is drawn as a graph, from the source up to the output", async () => {
  await page.waitForFunction(() => document.querySelector("#plan").dataset.operators === "3", null, WAIT);
  assert.deepEqual(await page.$$eval("#plan .plan-op", (ts) => ts.map((t) => t.textContent)),
    ["SOURCE", "AGGREGATE", "PROJECT"]); // sources are drawn first
  assert.equal(await page.locator("#plan .plan-edge").count(), 2);
});

test("late rows: a row too late for its closed window appears in the late panel", async () => {
  await page.waitForFunction(() => document.querySelector("#late").dataset.state === "live", null, WAIT);
  assert.match(await page.textContent("#late"), /no late rows yet/);
  // Stream time is past 22:14:00, so the window [22:13:00, 22:14:00) is closed.
  await post(server, "PAGEVIEWS", [view("u5", "late-page", 1000)]);
  await page.waitForFunction(() => /1 late row\(s\)/.test(document.querySelector("#late").textContent),
    null, WAIT);
  const cells = await page.$$eval("#late tbody tr", (trs) => trs.map((tr) =>
    [...tr.cells].map((td) => td.textContent)));
  assert.deepEqual(cells.map((c) => c.slice(1)), [["u5", "late-page"]]);
  await page.waitForFunction(() => {
    const tr = document.querySelector('#queries tbody tr[data-id="PAGE_COUNTS"]');
    return tr && tr.cells[4].textContent === "1";
  }, null, WAIT);
});

test("pause, resume from the last seq, and reconnect after the server restarts", async () => {
  const seqOf = async () => Number(await page.textContent("#live-seq"));
  await page.getByRole("button", { name: "Pause" }).click();
  await page.locator('#live-state[data-state="paused"]').waitFor(WAIT);
  const pausedAt = await seqOf();
  await post(server, "PAGEVIEWS", [view("u4", "news", 63000)]);
  // The connection is closed while paused: the new row has not arrived.
  const w2news = ["2023-11-14 22:14:00 – 22:15:00", "news"];
  assert.ok(!(await liveRows()).some((r) => r[0] === w2news[0] && r[1] === w2news[1]));
  await page.getByRole("button", { name: "Resume" }).click();
  await waitForLiveRow([...w2news, "1"]);
  assert.equal(await page.textContent("#live-connection"), `resumed after seq ${pausedAt} (?from=${pausedAt})`);
  assert.equal(await seqOf(), pausedAt + 1);

  // Drop the connection: stop the server, start it again on the same port and data.
  const { port, data } = server;
  await stopServer(server);
  await page.locator('#live-state[data-state="reconnecting"]').waitFor(WAIT);
  assert.match(await page.textContent("#live-state"), /reconnecting from seq \d+/);
  await page.screenshot({ path: path.join(SHOTS, "reconnecting.png") });
  server = await startServer({ port, data });
  await page.locator('#live-state[data-state="live"]').waitFor(WAIT);
  assert.match(await page.textContent("#live-connection"), /^resumed after seq \d+/);
  await post(server, "PAGEVIEWS", [view("u5", "news", 64000)]);
  await waitForLiveRow([...w2news, "2"]);
  const q = await call(server, "GET", "/v1/queries/PAGE_COUNTS");
  await page.waitForFunction((s) => document.querySelector("#live tbody").dataset.seq === String(s),
    q.seq, WAIT);
});

test("a batch query shows a result table", async () => {
  await page.fill("#sql", "SELECT pageid, COUNT(*) AS views FROM pageviews WHERE pageid = 'news' GROUP BY pageid");
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const table = page.locator("#sql-results table.result");
  await table.waitFor(WAIT);
  assert.deepEqual(await table.locator("th").allTextContents(), ["PAGEID", "VIEWS"]);
  assert.deepEqual(await table.locator("tbody td").allTextContents(), ["news", "3"]);
  assert.match(await page.textContent("#sql-results"), /1 row\(s\)/);
});

test("a bind error points at its line and column, marked in the editor", async () => {
  await page.fill("#sql", "SELECT pageid,\n       COUNT(*) AS views\nFROM pageviews GROUP BY pagei");
  await page.keyboard.press("Control+Enter"); // focus is in the editor after fill
  await page.locator("#sql-error").waitFor({ state: "visible", ...WAIT });
  assert.equal(await page.textContent("#sql-error-text"),
    "UNKNOWN_COLUMN at line 3, column 25 (“pagei”): unknown column 'PAGEI'");
  assert.equal(await page.textContent("#sql-mirror mark"), "pagei");
  assert.equal(await page.getAttribute("#sql", "aria-invalid"), "true");
  await page.screenshot({ path: path.join(SHOTS, "error.png") });
  await page.getByRole("button", { name: "Show in editor" }).click();
  const sel = await page.$eval("#sql", (t) => [document.activeElement === t,
    t.value.slice(t.selectionStart, t.selectionEnd)]);
  assert.deepEqual(sel, [true, "pagei"]);
  // Typing clears the mark.
  await page.keyboard.type("d");
  assert.equal(await page.locator("#sql-mirror mark").count(), 0);
});

test("a syntax error in Explain points at the editor's column, not the prefixed text", async () => {
  await page.fill("#sql", "SELECT FROM pageviews");
  await page.getByRole("button", { name: "Explain" }).click();
  await page.locator("#sql-error").waitFor({ state: "visible", ...WAIT });
  assert.match(await page.textContent("#sql-error-text"), /^SYNTAX_ERROR at line 1, column 8 \(“FROM”\)/);
  assert.equal(await page.textContent("#sql-mirror mark"), "FROM");
});

test("test events posted from the form, and a bad one named by index and field", async () => {
  await page.selectOption("#post-stream", "PAGEVIEWS");
  await page.getByRole("button", { name: "Fill in an example" }).click();
  assert.equal((await page.inputValue("#post-body")).split("\n").length, 3);
  await page.getByRole("button", { name: "Post", exact: true }).click();
  await page.locator("#post-result", { hasText: "accepted 3 event(s) into PAGEVIEWS" }).waitFor(WAIT);
  await page.fill("#post-body", '[{"viewtime": 1, "pageid": "x"}, {"viewtime": "soon"}]');
  await page.getByRole("button", { name: "Post", exact: true }).click();
  await page.locator("#post-result.error-text").waitFor(WAIT);
  assert.match(await page.textContent("#post-result"), /^BAD_EVENT at event 1, field "viewtime": /);
});

test("a fire-hose keeps the page responsive and the rows bounded", async () => {
  await sql(server, "CREATE STREAM clicks (ts BIGINT, userid VARCHAR) WITH (TIMESTAMP='ts');");
  await call(server, "POST", "/v1/queries",
    { name: "PER_USER", sql: "SELECT userid, COUNT(*) AS n FROM clicks GROUP BY userid EMIT CHANGES" });
  await page.locator('#queries tbody tr[data-id="PER_USER"]').waitFor(WAIT);
  await page.getByRole("button", { name: "Open query PER_USER" }).click();
  await page.locator('#live-state[data-state="live"]').waitFor(WAIT);
  await page.evaluate(() => {
    window.longest = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longest = Math.max(window.longest, e.duration);
    }).observe({ type: "longtask" });
  });
  const total = 40000;
  const started = Date.now();
  for (let b = 0; b < 8; b++) {
    const lines = [];
    for (let i = 0; i < total / 8; i++) {
      const n = b * (total / 8) + i;
      lines.push(JSON.stringify({ ts: T0 + n, userid: `user${n}` }));
    }
    await call(server, "POST", "/v1/streams/CLICKS/events", `${lines.join("\n")}\n`, "application/x-ndjson");
  }
  await page.waitForFunction((n) => document.querySelector("#live tbody").dataset.seq === String(n),
    total, { timeout: 30000 });
  const seconds = (Date.now() - started) / 1000;
  await page.locator("#live-count", { hasText: /^1000$/ }).waitFor(WAIT);
  // Only the rows the table's box shows are in the page; the table counts them all.
  const inPage = await page.locator("#live tbody tr:not(.spacer)").count();
  assert.ok(inPage > 0 && inPage < 100, `${inPage} rows in the page`);
  assert.equal(await page.getAttribute("#live", "aria-rowcount"), "1001");
  assert.equal(await page.isVisible("#live-cap-note"), true);
  assert.equal(await page.textContent("#live-evicted"), String(total - 1000));
  // The newest row is on top.
  assert.deepEqual((await liveRows())[0], [`user${total - 1}`, "1"]);
  // An animation frame still comes promptly.
  const frameMs = await page.evaluate(() => new Promise((resolve) => {
    const t = performance.now();
    requestAnimationFrame(() => resolve(performance.now() - t));
  }));
  const longest = await page.evaluate(() => window.longest);
  console.log(`fire-hose: ${total} rows in ${seconds.toFixed(2)} s ` +
    `(${Math.round(total / seconds)} rows/s), longest task ${Math.round(longest)} ms, ` +
    `next frame after ${Math.round(frameMs)} ms`);
  assert.ok(longest < 500, `a task blocked the page for ${longest} ms`);
  assert.ok(frameMs < 500, `the next frame took ${frameMs} ms`);
  // A smaller cap applies at once.
  await page.selectOption("#live-cap", "100");
  await page.locator("#live-count", { hasText: /^100$/ }).waitFor(WAIT);
  // Scrolled to the bottom, the table shows the oldest row kept.
  await page.$eval("#live-scroll", (el) => { el.scrollTop = el.scrollHeight; });
  await waitForLiveRow([`user${total - 100}`, "1"]);
});

test("a chart over many windows folds the smaller groups (the README's screenshot)", async () => {
  await sql(server, "CREATE STREAM orders (ts BIGINT, region VARCHAR, amount DOUBLE) " +
    "WITH (TIMESTAMP='ts');");
  const regions = ["emea", "us-east", "us-west", "apac", "latam", "india", "nordics", "anz"];
  const events = [];
  for (let w = 0; w < 40; w++)
    regions.forEach((region, r) => {
      for (let k = 0; k <= r % 3; k++)
        events.push({ ts: T0 + w * 10000 + k, region, amount: Math.round(60 + 45 * Math.sin(w / 4 + r) + 20 * (8 - r)) });
    });
  await post(server, "ORDERS", events);
  await page.fill("#post-body", "");
  await page.$eval("#post-result", (el) => { el.textContent = ""; });
  await page.selectOption("#live-cap", "1000"); // the chart is drawn from the rows kept
  await page.fill("#sql", "SELECT region, SUM(amount) AS revenue, COUNT(*) AS orders\n" +
    "FROM orders\nWINDOW TUMBLING (SIZE 10 SECONDS)\nGROUP BY region\nEMIT CHANGES;");
  await page.fill("#query-name", "REVENUE");
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForFunction(() => {
    const c = document.querySelector("#chart");
    return c.dataset.windows === "40" && c.dataset.series === "6";
  }, null, WAIT);
  assert.equal(await page.inputValue("#chart-value"), "REVENUE");
  assert.match(await page.textContent("#chart-caption"), /3 smaller groups summed into “other”/);
  await page.selectOption("#chart-value", "ORDERS");
  await page.waitForFunction(() => document.querySelector("#chart").getAttribute("aria-label")
    .startsWith("ORDERS per window: 6 series over 40 windows"), null, WAIT);
  await page.selectOption("#chart-value", "REVENUE");
  await page.locator('#queries tbody tr[data-id="REVENUE"]').waitFor(WAIT);
  await page.locator("#sql-h").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, "readme.png"), fullPage: true });
});

test("keyboard: labelled controls, real buttons, a sensible focus order", async () => {
  const unlabelled = await page.$$eval("input, select, textarea", (els) =>
    els.filter((e) => !e.labels.length && !e.getAttribute("aria-label")).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.locator("[onclick], div[role=button], span[role=button]").count(), 0);
  await page.focus("#sql");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "sql-run");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "sql-explain");
});

test("a phone-sized screen gets one column and no sideways scrolling", async () => {
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(server.url);
  await phone.locator('#streams tbody tr[data-id="PAGEVIEWS"]').waitFor(WAIT);
  const [scroll, client] = await phone.evaluate(() =>
    [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `the page is ${scroll}px wide on a ${client}px screen`);
  await phone.screenshot({ path: path.join(SHOTS, "phone.png"), fullPage: true });
  await phone.close();
});

test("a server with a token prompts for it; nothing works without it", async () => {
  const tokenFile = path.join(tmp, "token");
  fs.writeFileSync(tokenFile, "s3cret-token\n");
  const secure = await startServer({ data: path.join(tmp, "data-auth"), tokenFile });
  try {
    secure.token = "s3cret-token";
    await sql(secure, "CREATE STREAM guarded (x INT);");
    const p = await context.newPage(); // a new tab: empty sessionStorage
    await p.goto(secure.url);
    const dialog = p.locator("#token-dialog");
    await dialog.waitFor({ state: "visible", ...WAIT });
    assert.match(await p.textContent("#token-reason"), /requires an API token \(401\)/);
    assert.equal(await p.locator('#streams tbody tr[data-id="GUARDED"]').count(), 0);
    await p.screenshot({ path: path.join(SHOTS, "token.png") });

    await p.getByLabel("Token", { exact: true }).fill("wrong");
    await p.getByRole("button", { name: "Use token" }).click();
    await p.locator("#token-reason", { hasText: "refused this token" }).waitFor(WAIT);
    await dialog.waitFor({ state: "visible", ...WAIT });

    await p.getByLabel("Token", { exact: true }).fill("s3cret-token");
    await p.keyboard.press("Enter");
    await p.locator('#streams tbody tr[data-id="GUARDED"]').waitFor(WAIT);
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await p.evaluate(() => sessionStorage.getItem("sluice-token")), "s3cret-token");
    await p.close();
  } finally {
    await stopServer(secure);
  }
});
