// model.test.mjs: unit tests of web/model.js (the live view's rows and chart data), run
// by node's test runner without a browser: upserts by key, deletes, appends, the row cap,
// the bound on pending changes, and the folding of small groups into "other".

import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const srcdir = process.env.SLUICE_SRCDIR || path.resolve(import.meta.dirname, "../..");
const { LiveModel, chartData, formatWindow } = await import(
  pathToFileURL(path.join(srcdir, "web/model.js")).href
);

const windowedHeader = {
  header: {
    query: "Q",
    columns: [
      { name: "WINDOWSTART", type: "BIGINT" }, { name: "WINDOWEND", type: "BIGINT" },
      { name: "PAGEID", type: "VARCHAR" }, { name: "VIEWS", type: "BIGINT" },
    ],
    key: ["WINDOWSTART", "WINDOWEND", "PAGEID"],
  },
};

const row = (seq, start, page, views) => ({
  seq, row: { WINDOWSTART: start, WINDOWEND: start + 60000, PAGEID: page, VIEWS: views },
});

test("a row with a known key replaces the earlier one; a delete removes it", () => {
  const m = new LiveModel(100);
  m.apply(windowedHeader);
  m.apply(row(1, 0, "home", 1));
  m.apply(row(2, 0, "home", 2));
  m.apply(row(3, 0, "news", 1));
  m.apply(row(4, 60000, "home", 1));
  assert.deepEqual([...m.rows.values()].map((r) => [r.WINDOWSTART, r.PAGEID, r.VIEWS]),
    [[0, "home", 2], [0, "news", 1], [60000, "home", 1]]);
  m.apply({ seq: 5, delete: { WINDOWSTART: 0, WINDOWEND: 60000, PAGEID: "news" } });
  assert.deepEqual([...m.rows.values()].map((r) => r.PAGEID), ["home", "home"]);
  assert.equal(m.seq, 5);
  assert.equal(m.windowed, true);
  assert.deepEqual(m.valueColumns, ["VIEWS"]);
});

test("a query without a key appends every row, and a replayed seq is not applied twice", () => {
  const m = new LiveModel(100);
  m.apply({ header: { query: "Q", columns: [{ name: "A", type: "INT" }], key: [] } });
  m.apply({ seq: 1, row: { A: 1 } });
  m.apply({ seq: 2, row: { A: 1 } });
  m.apply({ seq: 2, row: { A: 1 } }); // a reconnect with ?from=1 replays seq 2
  assert.equal(m.rows.size, 2);
  assert.equal(m.seq, 2);
});

test("at most cap rows are kept, the least recently changed leaving first", () => {
  const m = new LiveModel(3);
  m.apply(windowedHeader);
  m.takeChanges();
  for (const [i, p] of ["a", "b", "c"].entries()) m.apply(row(i + 1, 0, p, 1));
  m.apply(row(4, 0, "a", 2)); // a is now the most recent
  m.apply(row(5, 0, "d", 1)); // b leaves
  assert.deepEqual([...m.rows.values()].map((r) => r.PAGEID), ["c", "a", "d"]);
  assert.equal(m.evicted, 1);
  const changes = m.takeChanges();
  assert.equal(changes.full, false);
  assert.ok(changes.keys.length <= 6);
  m.setCap(1);
  assert.deepEqual([...m.rows.values()].map((r) => r.PAGEID), ["d"]);
});

test("pending changes stay bounded when nothing renders", () => {
  const m = new LiveModel(10);
  m.apply(windowedHeader);
  m.takeChanges();
  for (let i = 1; i <= 10000; i++) m.apply(row(i, 0, `p${i}`, i));
  assert.ok(m.dirty.size <= 20);
  assert.equal(m.rows.size, 10);
  assert.equal(m.takeChanges().full, true);
});

test("the chart keeps the largest groups and sums the rest into other", () => {
  const m = new LiveModel(100);
  m.apply(windowedHeader);
  let seq = 0;
  const pages = { a: 10, b: 8, c: 3, d: 2, e: 1 };
  for (const start of [0, 60000])
    for (const [p, v] of Object.entries(pages)) m.apply(row(++seq, start, p, v));
  const data = chartData(m, "VIEWS", 3, 60);
  assert.deepEqual(data.windows, [0, 60000]);
  assert.deepEqual(data.series.map((s) => s.label), ["a", "b", "other (3 groups)"]);
  assert.equal(data.series[2].values.get(60000), 6);
  assert.equal(data.folded, 3);
  assert.equal(chartData(m, "VIEWS", 3, 1).windows.length, 1);
});

test("a window shows its bounds", () => {
  assert.equal(formatWindow(0, 60000), "1970-01-01 00:00:00 – 00:01:00");
  assert.equal(formatWindow(1700000000500, 1700000001000),
    "2023-11-14 22:13:20.500 – 22:13:21");
});
