// firefox.test.mjs: the dashboard in real headless Firefox (Debian's firefox-esr), driven
// by puppeteer-core over WebDriver BiDi (playwright-core cannot drive a stock Firefox).
// Starts the real server as dashboard.test.mjs does (server.mjs), registers a windowed
// query through the editor, posts events through the public API, and waits for what the
// page shows (DOM conditions, never fixed sleeps): the exact live rows, a chart drawn on
// its canvas, errors at their line and column. Screenshots go to $SCREENSHOT_DIR
// (firefox-*.png). puppeteer-core is loaded from $PLAYWRIGHT_DIR (run.sh installs it).

import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { PAGEVIEWS_DDL, post, sql, startServer, stopServer, view } from "./server.mjs";

const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
const SHOTS = process.env.SCREENSHOT_DIR || path.resolve("screenshots");
const require = createRequire(path.join(process.env.PLAYWRIGHT_DIR || process.cwd(), "noop.js"));
const puppeteer = require("puppeteer-core");
const WAIT = { timeout: 10000 };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-firefox-"));
fs.mkdirSync(SHOTS, { recursive: true });

let server;
let browser;
let page;
const pageErrors = [];

before(async () => {
  server = await startServer({ data: path.join(tmp, "data") });
  browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    userDataDir: path.join(tmp, "profile"),
    defaultViewport: { width: 1280, height: 900 },
    extraPrefsFirefox: { "browser.shell.checkDefaultBrowser": false, "app.update.enabled": false },
  });
  page = await browser.newPage();
  page.on("pageerror", (e) => {
    pageErrors.push(e.message);
    console.error(`page error: ${e.message}`);
  });
  await sql(server, PAGEVIEWS_DDL);
  await page.goto(server.url);
}, { timeout: 60000 });

after(async () => {
  if (browser) await browser.close();
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
      WAIT, cells);
  } catch (e) {
    const state = await page.$eval("#live-state", (el) => el.textContent);
    throw new Error(`no live row ${JSON.stringify(cells)} (${state}): ` +
      `${JSON.stringify(await liveRows())}`, { cause: e });
  }
}

const text = (sel) => page.$eval(sel, (el) => el.textContent);

// Replaces the editor's text by typing it, as a user would (real key events).
async function typeSql(sqlText) {
  await page.$eval("#sql", (t) => {
    t.value = "";
    t.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.focus("#sql");
  await page.keyboard.type(sqlText);
}

test("Firefox: the stream list shows the stream and its events", async () => {
  await page.waitForSelector('#streams tbody tr[data-id="PAGEVIEWS"]', WAIT);
  assert.match(await text('#streams tbody tr[data-id="PAGEVIEWS"]'),
    /VIEWTIME BIGINT, USERID VARCHAR, PAGEID VARCHAR/);
  await post(server, "PAGEVIEWS", [view("u1", "home", 0), view("u2", "home", 5000)]);
  await page.waitForFunction(() => {
    const tr = document.querySelector('#streams tbody tr[data-id="PAGEVIEWS"]');
    return tr && tr.cells[2].textContent === "2" && tr.cells[4].textContent === "2023-11-14 22:13:25";
  }, WAIT);
});

test("Firefox: a windowed query registered in the editor shows live rows and a drawn chart", async () => {
  await typeSql("SELECT pageid, COUNT(*) AS views\nFROM pageviews\n" +
    "WINDOW TUMBLING (SIZE 1 MINUTE)\nGROUP BY pageid\nEMIT CHANGES;");
  assert.equal(await page.$eval("#sql-gutter", (g) => g.textContent.trim().split(/\s+/).length), 5);
  await page.type("#query-name", "PAGE_COUNTS");
  await page.click("#sql-register");
  await page.waitForSelector('#live-state[data-state="live"]', WAIT);
  assert.equal(await text("#query-id"), "PAGE_COUNTS");
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

  // The chart: one series per page, x = WINDOWSTART, the legend lists the series.
  await page.waitForFunction(() => document.querySelector("#chart").dataset.points === "3", WAIT);
  assert.deepEqual(await page.$eval("#chart", (c) => [c.dataset.series, c.dataset.windows]), ["2", "2"]);
  assert.deepEqual(await page.$$eval("#chart-legend li", (lis) => lis.map((l) => l.textContent)),
    ["home 1", "news"]);
  // The canvas was really drawn: each series' dots are on it in its legend colour.
  const drawn = await page.$eval("#chart", (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const rgb = (css) => css.match(/\d+/g).slice(0, 3).map(Number);
    return [...document.querySelectorAll("#chart-legend .swatch")].map((s) => {
      const [r, g, b] = rgb(getComputedStyle(s).backgroundColor);
      let n = 0;
      for (let i = 0; i < data.length; i += 4)
        if (data[i + 3] === 255 && Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) +
            Math.abs(data[i + 2] - b) < 6) n++;
      return n;
    });
  });
  assert.equal(drawn.length, 2);
  assert.ok(drawn.every((n) => n >= 10), `pixels of each series' colour: ${drawn}`);
  const box = await page.$("#chart-box");
  await box.screenshot({ path: path.join(SHOTS, "firefox-chart.png") });
  await page.screenshot({ path: path.join(SHOTS, "firefox-dashboard.png"), fullPage: true });
});

test("Firefox: a syntax error points at its line and column, marked in the editor", async () => {
  await typeSql("SELECT FROM pageviews");
  await page.click("#sql-explain");
  await page.waitForSelector("#sql-error", { visible: true, ...WAIT });
  assert.match(await text("#sql-error-text"), /^SYNTAX_ERROR at line 1, column 8 \(“FROM”\)/);
  assert.equal(await text("#sql-mirror mark"), "FROM");

  // On the third line, run with Ctrl+Enter.
  await typeSql("SELECT pageid,\n       COUNT(*) AS views\nFROM pageviews GROUP BY pagei");
  await page.keyboard.down("Control");
  await page.keyboard.press("Enter");
  await page.keyboard.up("Control");
  await page.waitForFunction(() =>
    document.querySelector("#sql-error-text").textContent.startsWith("UNKNOWN_COLUMN"), WAIT);
  assert.equal(await text("#sql-error-text"),
    "UNKNOWN_COLUMN at line 3, column 25 (“pagei”): unknown column 'PAGEI'");
  assert.equal(await text("#sql-mirror mark"), "pagei");
  assert.equal(await page.$eval("#sql", (t) => t.getAttribute("aria-invalid")), "true");
  // The mark sits over the text it marks: the mirror is aligned with the textarea.
  const [mark, line] = await page.$eval("#sql-mirror mark", (m) => {
    const r = m.getBoundingClientRect();
    const t = document.querySelector("#sql").getBoundingClientRect();
    return [{ x: r.x - t.x, y: r.y - t.y, w: r.width }, parseFloat(getComputedStyle(m).lineHeight)];
  });
  assert.ok(mark.w > 0 && mark.y > line * 1.5 && mark.y < line * 3.5, JSON.stringify(mark));
  await page.screenshot({ path: path.join(SHOTS, "firefox-error.png") });
  await page.click("#sql-error-goto");
  const sel = await page.$eval("#sql", (t) => [document.activeElement === t,
    t.value.slice(t.selectionStart, t.selectionEnd)]);
  assert.deepEqual(sel, [true, "pagei"]);
  // Typing clears the mark.
  await page.keyboard.type("d");
  assert.equal(await page.$$eval("#sql-mirror mark", (ms) => ms.length), 0);
  assert.deepEqual(pageErrors, []);
});
