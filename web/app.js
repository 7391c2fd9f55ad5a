// app.js: the sluice dashboard's page: the stream and query lists (polled every 2 s and
// updated in place, so that keyboard focus survives a refresh), the SQL editor (run,
// explain, register), the test-event form, the token prompt, and the query panel (live
// view from live.js, plan graph from plan.js, late rows). It only talks to the public HTTP
// API through api.js, and puts server data in the page only as text.

import {
  ApiError, api, describeError, getToken, postJson, readNdjson, request,
  setToken, setUnauthorizedHandler,
} from "./api.js";
import { SqlEditor } from "./editor.js";
import { LiveView } from "./live.js";
import { formatTime, formatValue } from "./model.js";
import { renderPlan } from "./plan.js";

const REFRESH_MS = 2000;
const MAX_BATCH_ROWS_SHOWN = 1000; // rows of a batch result put in the page
const MAX_LATE_ROWS = 200; // late rows kept in view

const $ = (id) => document.getElementById(id);

const state = {
  needToken: false, // the server answered 401 and no accepted token is set
  streams: [],
  queries: new Map(), // id -> query object of the last refresh
  rates: new Map(), // stream -> {events, at, rate}
  openId: null,
  lateController: null,
};

// --- token ----------------------------------------------------------------------------

const dialog = $("token-dialog");

function promptToken(reason) {
  state.needToken = true;
  $("status").textContent = "the server requires an API token";
  $("token-reason").textContent = reason;
  if (!dialog.open) {
    $("token-input").value = "";
    dialog.showModal();
  }
}

setUnauthorizedHandler(() =>
  promptToken(
    getToken()
      ? "The server refused this token (401). Enter the right one: nothing works without it."
      : "This server requires an API token (401): nothing works without it."
  )
);

$("token-button").addEventListener("click", () =>
  promptToken(getToken() ? "Change or forget the API token." : "Enter the API token, if the server requires one.")
);
$("token-form").addEventListener("submit", () => {
  // method="dialog" closes the dialog.
  setToken($("token-input").value.trim());
  state.needToken = false;
  refresh();
  if (state.openId) openQuery(state.openId);
});
$("token-clear").addEventListener("click", () => {
  setToken("");
  dialog.close();
  refresh();
});
$("token-cancel").addEventListener("click", () => dialog.close());

// --- stream and query lists -------------------------------------------------------------

function setCell(td, text, cls) {
  const s = text === null || text === undefined ? "" : String(text);
  if (td.textContent !== s) td.textContent = s;
  if (cls !== undefined && td.className !== cls) td.className = cls;
}

// Keeps one <tr> per id in tbody, in the order of items; fill(tr, item, isNew) sets cells.
function syncRows(tbody, items, idOf, cells, fill, emptyText) {
  const byId = new Map();
  for (const tr of [...tbody.rows]) {
    if (tr.dataset.id === undefined) tr.remove();
    else byId.set(tr.dataset.id, tr);
  }
  let prev = null;
  for (const item of items) {
    const id = idOf(item);
    let tr = byId.get(id);
    const isNew = !tr;
    if (isNew) {
      tr = document.createElement("tr");
      tr.dataset.id = id;
      for (let i = 0; i < cells; i++) tr.insertCell();
    }
    byId.delete(id);
    fill(tr, item, isNew);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of byId.values()) tr.remove();
  if (!items.length) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = cells;
    td.className = "muted";
    td.textContent = emptyText;
  }
}

function schemaText(s) {
  return s.columns.map((c) => `${c.name} ${c.type}${c.key ? " KEY" : ""}`).join(", ");
}

function streamRate(s) {
  if (typeof s.rate === "number") return s.rate.toFixed(1);
  const now = performance.now();
  const prev = state.rates.get(s.name);
  if (!prev) {
    state.rates.set(s.name, { events: s.events, at: now, rate: null });
    return "—";
  }
  if (now - prev.at >= 1000) {
    prev.rate = Math.max(0, ((s.events - prev.events) * 1000) / (now - prev.at));
    prev.events = s.events;
    prev.at = now;
  }
  return prev.rate === null ? "—" : prev.rate.toFixed(1);
}

function renderStreams(streams) {
  state.streams = streams;
  syncRows($("streams").tBodies[0], streams, (s) => s.name, 5, (tr, s) => {
    const c = tr.cells;
    setCell(c[0], s.name);
    setCell(c[1], schemaText(s), "cols");
    setCell(c[2], s.events, "num");
    setCell(c[3], streamRate(s), "num");
    setCell(c[4], s.watermark === null ? "—" : formatTime(s.watermark));
    c[4].title = s.watermark === null ? "no events yet" : String(s.watermark);
  }, "no streams yet: CREATE STREAM in the SQL editor");
  const select = $("post-stream");
  const current = select.value;
  const names = streams.map((s) => s.name);
  if (names.join("\n") !== [...select.options].map((o) => o.value).join("\n")) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(current)) select.value = current;
  }
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function actionButton(text, label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function renderQueries(queries) {
  state.queries = new Map(queries.map((q) => [q.id, q]));
  syncRows($("queries").tBodies[0], queries, (q) => q.id, 9, (tr, q, isNew) => {
    const c = tr.cells;
    setCell(c[0], q.id, "id");
    c[0].title = q.sql;
    setCell(c[1], q.state + (q.persistent ? "" : " (transient)"), `status ${q.state}`);
    c[1].title = q.error ? (q.error.message || JSON.stringify(q.error)) : "";
    setCell(c[2], q.rows_in, "num");
    setCell(c[3], q.rows_out, "num");
    setCell(c[4], q.late_rows, q.late_rows ? "num warn" : "num");
    setCell(c[5], formatBytes(q.state_bytes), "num");
    setCell(c[6], q.subscribers, "num");
    setCell(c[7], q.watermark === null ? "—" : formatTime(q.watermark));
    if (isNew) {
      c[8].className = "actions";
      c[8].append(
        actionButton("Open", `Open query ${q.id}`, () => openQuery(q.id)),
        actionButton("Drop", `Drop query ${q.id}`, () => dropQuery(q.id), "secondary")
      );
    }
    tr.classList.toggle("selected", q.id === state.openId);
  }, "no queries yet: write a SELECT … EMIT CHANGES and Register it");
  if (state.openId && state.queries.has(state.openId))
    $("query-sql").textContent = state.queries.get(state.openId).sql;
}

async function refresh() {
  try {
    const [s, q] = await Promise.all([api("/v1/streams"), api("/v1/queries")]);
    renderStreams(s.streams);
    renderQueries(q.queries);
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401))
      $("status").textContent = `cannot reach the server: ${describeError(e)}`;
  }
}

async function dropQuery(id) {
  if (!confirm(`Drop query ${id}? Its results stop for every subscriber.`)) return;
  try {
    await api(`/v1/queries/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (e) {
    $("status").textContent = describeError(e);
  }
  refresh();
}

// --- SQL editor -----------------------------------------------------------------------

const editor = new SqlEditor($("sql"), $("sql-mirror"), $("sql-gutter"));
editor.value = sessionStorage.getItem("sluice-sql") || "";
$("sql").addEventListener("input", () => sessionStorage.setItem("sluice-sql", editor.value));
$("sql").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    $("sql-form").requestSubmit();
  }
});
$("sql-error-goto").addEventListener("click", () => editor.focusError());

// lineShift/columnShift: where the text sent differs from the editor's (EXPLAIN prefix).
function showSqlError(e, columnShiftOnLine1 = 0) {
  const err = e instanceof ApiError ? e.error : {};
  let text = describeError(e);
  if (err.line) {
    const column = err.line === 1 ? err.column - columnShiftOnLine1 : err.column;
    const token = editor.markError(err.line, column);
    text = `${e.code} at line ${err.line}, column ${column}${token ? ` (“${token}”)` : ""}: ${e.message}`;
    $("sql-error-goto").hidden = false;
  } else {
    editor.clearError();
    $("sql-error-goto").hidden = true;
  }
  $("sql-error-text").textContent = text;
  $("sql-error").hidden = false;
}

function clearSqlOutput(info) {
  $("sql-error").hidden = true;
  editor.clearError();
  $("sql-results").replaceChildren();
  $("sql-info").textContent = info;
}

function resultTable(columns, rows) {
  const wrap = document.createElement("div");
  wrap.className = "scroll";
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-label", "result rows");
  const table = document.createElement("table");
  table.className = "result";
  const head = table.createTHead().insertRow();
  const names = columns.map((c) => c.name);
  for (const n of names) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = n;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows.slice(0, MAX_BATCH_ROWS_SHOWN)) {
    const tr = body.insertRow();
    for (const n of names) {
      const td = tr.insertCell();
      td.textContent = formatValue(row[n]);
      if (typeof row[n] === "number") td.className = "num";
    }
  }
  wrap.append(table);
  return wrap;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "result-note";
  p.textContent = text;
  return p;
}

// One statement's answer from POST /v1/statements, as page content.
function statementResult(r) {
  const out = document.createElement("div");
  out.className = "statement";
  switch (r.type) {
    case "rows": {
      const shown = Math.min(r.rows.length, MAX_BATCH_ROWS_SHOWN);
      out.append(note(`${r.rows.length} row(s)${shown < r.rows.length ? `, first ${shown} shown` : ""}`));
      out.append(resultTable(r.columns, r.rows));
      break;
    }
    case "query_created":
      out.append(note(`registered continuous query ${r.id}: its live view is open below`));
      openQuery(r.id);
      break;
    case "plan": {
      const graph = document.createElement("div");
      graph.className = "plan scroll";
      renderPlan(graph, r.plan);
      out.append(graph);
      break;
    }
    case "streams":
      out.append(resultTable([{ name: "name" }, { name: "schema" }, { name: "events" }],
        r.streams.map((s) => ({ name: s.name, schema: schemaText(s), events: s.events }))));
      break;
    case "queries":
      out.append(resultTable([{ name: "id" }, { name: "state" }, { name: "sql" }], r.queries));
      break;
    case "description":
      out.append(note(`${r.name}: ${schemaText(r)}`));
      break;
    default: {
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(r, null, 2);
      out.append(note(r.type || "done"), pre);
    }
  }
  return out;
}

$("sql-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearSqlOutput("running…");
  const started = performance.now();
  try {
    const results = await postJson("/v1/statements", { sql: editor.value });
    const ms = Math.round(performance.now() - started);
    $("sql-info").textContent = `${results.length} statement(s) in ${ms} ms`;
    $("sql-results").replaceChildren(...results.map(statementResult));
    refresh();
  } catch (e) {
    $("sql-info").textContent = "";
    showSqlError(e);
    refresh();
  }
});

$("sql-explain").addEventListener("click", async () => {
  clearSqlOutput("explaining…");
  const sql = editor.value;
  const explained = /^\s*EXPLAIN\b/i.test(sql);
  const prefix = explained ? "" : "EXPLAIN ";
  try {
    const results = await postJson("/v1/statements", { sql: prefix + sql });
    $("sql-info").textContent = "operator plan: rows flow from the source up to the output";
    $("sql-results").replaceChildren(...results.map(statementResult));
  } catch (e) {
    $("sql-info").textContent = "";
    showSqlError(e, prefix.length);
  }
});

$("sql-register").addEventListener("click", async () => {
  clearSqlOutput("registering…");
  const body = { sql: editor.value.replace(/[\s;]+$/, ""), from: $("query-from").value };
  const name = $("query-name").value.trim();
  if (name) body.name = name;
  try {
    const q = await postJson("/v1/queries", body);
    $("sql-info").textContent = `registered continuous query ${q.id}`;
    await refresh();
    openQuery(q.id);
  } catch (e) {
    $("sql-info").textContent = "";
    showSqlError(e);
  }
});

// --- test events ------------------------------------------------------------------------

function exampleValue(col, stream, i) {
  const t = col.type.toUpperCase();
  if (stream.timestamp && col.name === stream.timestamp)
    return t === "TIMESTAMP" ? new Date().toISOString() : Date.now() + i;
  if (t.startsWith("BOOL")) return i % 2 === 0;
  if (t === "INT" || t === "INTEGER" || t === "BIGINT") return i + 1;
  if (t.startsWith("DOUBLE") || t.startsWith("DECIMAL")) return 1.5 * (i + 1);
  if (t === "TIMESTAMP") return new Date().toISOString();
  if (t.startsWith("VARCHAR") || t.startsWith("STRING")) return ["a", "b", "c"][i % 3];
  return null;
}

$("post-example").addEventListener("click", () => {
  const s = state.streams.find((x) => x.name === $("post-stream").value);
  if (!s) {
    $("post-result").textContent = "create a stream first";
    return;
  }
  const lines = [0, 1, 2].map((i) =>
    JSON.stringify(Object.fromEntries(s.columns.map((c) => [c.name, exampleValue(c, s, i)])))
  );
  $("post-body").value = lines.join("\n");
});

$("post-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("post-stream").value;
  const text = $("post-body").value;
  const out = $("post-result");
  out.className = "";
  if (!name) {
    out.textContent = "create a stream first";
    return;
  }
  let type = "application/json";
  try {
    JSON.parse(text);
  } catch {
    type = "application/x-ndjson";
  }
  try {
    const r = await api(`/v1/streams/${encodeURIComponent(name)}/events`, {
      method: "POST",
      headers: { "Content-Type": type },
      body: text,
    });
    out.textContent = `accepted ${r.accepted} event(s) into ${name}`;
    refresh();
  } catch (e) {
    out.className = "error-text";
    out.textContent = describeError(e);
  }
});

// --- query panel ----------------------------------------------------------------------

const live = new LiveView(
  {
    pause: $("live-pause"),
    reconnect: $("live-reconnect"),
    state: $("live-state"),
    cap: $("live-cap"),
    count: $("live-count"),
    seq: $("live-seq"),
    rate: $("live-rate"),
    connection: $("live-connection"),
    capNote: $("live-cap-note"),
    evicted: $("live-evicted"),
    error: $("live-error"),
    table: $("live"),
    scroller: $("live-scroll"),
    empty: $("live-empty"),
    thead: $("live").tHead,
    tbody: $("live").tBodies[0],
    chartBox: $("chart-box"),
    canvas: $("chart"),
    legend: $("chart-legend"),
    chartCaption: $("chart-caption"),
    valueColumn: $("chart-value"),
  },
  () => refresh()
);

function openQuery(id) {
  state.openId = id;
  $("query-id").textContent = id;
  $("query-id").className = "";
  $("query-body").hidden = false;
  const q = state.queries.get(id);
  $("query-sql").textContent = q ? q.sql : "";
  for (const tr of $("queries").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
  live.open(id);
  loadPlan(id);
  loadLate(id);
}

async function loadPlan(id) {
  const box = $("plan");
  box.textContent = "loading the plan…";
  $("plan-text").textContent = "";
  let sql = state.queries.get(id)?.sql;
  try {
    if (!sql) sql = (await api(`/v1/queries/${encodeURIComponent(id)}`)).sql;
    const [r] = await postJson("/v1/statements", { sql: `EXPLAIN ${sql}` });
    if (state.openId !== id) return;
    const n = renderPlan(box, r.plan);
    box.dataset.operators = String(n);
    $("plan-text").textContent = r.plan;
  } catch (e) {
    if (state.openId === id) box.textContent = `no plan: ${describeError(e)}`;
  }
}

// GET /v1/queries/{id}/late?from=0: the rows too late for their window that the server
// keeps, then new ones as they happen, as a stream.
async function loadLate(id) {
  if (state.lateController) state.lateController.abort();
  const controller = new AbortController();
  state.lateController = controller;
  const box = $("late");
  box.dataset.state = "loading";
  box.textContent = "loading…";
  const rows = [];
  let columns = null;
  let table = null;
  let pending = false;
  const render = () => {
    pending = false;
    if (!columns) columns = rows.length ? Object.keys(rows[0]).map((name) => ({ name })) : [];
    table = resultTable(columns, rows.slice().reverse());
    box.replaceChildren(note(`${rows.length} late row(s) (the latest ${MAX_LATE_ROWS} kept), newest first`), table);
  };
  try {
    const res = await request(`/v1/queries/${encodeURIComponent(id)}/late?from=0`, {
      headers: { Accept: "application/x-ndjson" },
      signal: controller.signal,
    });
    box.dataset.state = "live";
    box.replaceChildren(note("no late rows yet"));
    await readNdjson(res, (msg) => {
      if (msg.header) columns = msg.header.columns;
      else if (msg.error) box.append(note(describeError(new ApiError(0, msg.error))));
      else {
        rows.push(msg.row || msg);
        if (rows.length > MAX_LATE_ROWS) rows.shift();
      }
    }, () => {
      if (rows.length && !pending) {
        pending = true;
        requestAnimationFrame(render);
      }
    });
  } catch (e) {
    if (e.name === "AbortError" || state.openId !== id) return;
    const q = state.queries.get(id);
    const count = q ? ` This query has counted ${q.late_rows} late row(s) so far (the “late rows” column above).` : "";
    box.dataset.state = "error";
    box.textContent = `Late rows unavailable: ${describeError(e)}.${count}`;
  }
}

// --- start ----------------------------------------------------------------------------

refresh();
setInterval(() => {
  if (!document.hidden && !state.needToken) refresh();
}, REFRESH_MS);
