// app.js: the sluice dashboard. Lists streams and queries (refreshed every 2 s), runs
// batch SQL through POST /v1/query, and shows a query's live results by reading its
// NDJSON result stream with fetch() and upserting rows by key. Data is only ever put in
// the page through textContent, never as HTML.

const REFRESH_MS = 2000;
// Rows kept in the live table of a query without a key (an append-only stream).
const MAX_APPEND_ROWS = 500;

const $ = (id) => document.getElementById(id);

// --- API ----------------------------------------------------------------------------------

const tokenInput = $("token");
tokenInput.value = localStorage.getItem("sluice-token") || "";
tokenInput.addEventListener("change", () => {
  localStorage.setItem("sluice-token", tokenInput.value.trim());
  refresh();
});

function headers(extra = {}) {
  const h = { ...extra };
  const token = tokenInput.value.trim();
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error || {});
  return body;
}

// "SYNTAX_ERROR at 1:17: near "FROM": syntax error"
function describeError(e) {
  if (!(e instanceof ApiError)) return String(e.message || e);
  const err = e.error;
  let where = "";
  if (err.line) where = ` at ${err.line}:${err.column}`;
  if (err.index !== undefined) where += ` (event ${err.index}${err.field ? `, ${err.field}` : ""})`;
  return `${err.code || e.status}${where}: ${err.message}`;
}

// --- tables ---------------------------------------------------------------------------------

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function formatValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function formatWatermark(ms) {
  return ms === null || ms === undefined ? "—" : new Date(ms).toISOString();
}

function setHead(table, names) {
  const thead = table.tHead;
  thead.replaceChildren();
  const tr = thead.insertRow();
  for (const n of names) {
    const th = document.createElement("th");
    th.textContent = n;
    tr.appendChild(th);
  }
}

function renderStreams(streams) {
  const tbody = $("streams").tBodies[0];
  tbody.replaceChildren();
  for (const s of streams) {
    const tr = tbody.insertRow();
    cell(tr, s.name);
    cell(tr, s.columns.map((c) => `${c.name} ${c.type}${c.key ? " KEY" : ""}`).join(", "), "cols");
    cell(tr, s.events, "num");
    cell(tr, formatWatermark(s.watermark));
  }
  if (!streams.length) cell(tbody.insertRow(), "no streams yet").colSpan = 4;
}

function renderQueries(queries) {
  const tbody = $("queries").tBodies[0];
  tbody.replaceChildren();
  for (const q of queries) {
    const tr = tbody.insertRow();
    cell(tr, q.id);
    cell(tr, q.sql, "sql");
    cell(tr, q.rows_in, "num");
    cell(tr, q.rows_out, "num");
    cell(tr, q.late_rows, "num");
    cell(tr, `${q.state_bytes} B`, "num");
    cell(tr, formatWatermark(q.watermark));
    cell(tr, q.seq, "num");
    cell(tr, q.subscribers, "num");
    const button = document.createElement("button");
    button.className = "link";
    button.textContent = "watch";
    button.addEventListener("click", () => watch(q.id));
    tr.insertCell().appendChild(button);
  }
  if (!queries.length) cell(tbody.insertRow(), "no queries yet").colSpan = 10;
}

async function refresh() {
  try {
    const [s, q] = await Promise.all([api("/v1/streams"), api("/v1/queries")]);
    renderStreams(s.streams);
    renderQueries(q.queries);
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("status").textContent = describeError(e);
  }
}

// --- batch queries --------------------------------------------------------------------------

function showError(el, text) {
  el.hidden = !text;
  el.textContent = text || "";
}

$("sql-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const table = $("sql-result");
  table.tHead.replaceChildren();
  table.tBodies[0].replaceChildren();
  showError($("sql-error"), "");
  $("sql-info").textContent = "running…";
  const started = performance.now();
  const controller = new AbortController();
  try {
    const res = await fetch("/v1/query", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify({ sql: $("sql").value }),
      signal: controller.signal,
    });
    if ((res.headers.get("Content-Type") || "").includes("ndjson")) {
      controller.abort();
      throw new Error("this is a continuous query (EMIT): register it with POST /v1/queries, " +
        "then watch it below");
    }
    const body = await res.json();
    if (!res.ok) throw new ApiError(res.status, body.error || {});
    const names = body.columns.map((c) => c.name);
    setHead(table, names);
    for (const row of body.rows) {
      const tr = table.tBodies[0].insertRow();
      for (const n of names) cell(tr, formatValue(row[n]));
    }
    const ms = Math.round(performance.now() - started);
    $("sql-info").textContent = `${body.rows.length} row(s) in ${ms} ms`;
    if (body.error) showError($("sql-error"), describeError(new ApiError(500, body.error)));
  } catch (e) {
    $("sql-info").textContent = "";
    showError($("sql-error"), describeError(e));
  }
});

// --- live results ---------------------------------------------------------------------------

let live = null; // { controller, columns, key, rows: Map, pending }

function rowKey(state, row) {
  if (!state.key.length) return `#${state.next++}`;
  return JSON.stringify(state.key.map((k) => row[k]));
}

function renderLive(state) {
  state.pending = false;
  const tbody = $("live").tBodies[0];
  tbody.replaceChildren();
  for (const [k, row] of state.rows) {
    const tr = tbody.insertRow();
    if (state.changed.has(k)) tr.className = "flash";
    for (const c of state.columns) cell(tr, formatValue(row[c]));
  }
  state.changed.clear();
  $("live-info").textContent =
    `${state.rows.size} row(s), last seq ${state.seq}${state.ended ? " — stream ended" : ""}`;
}

function scheduleRender(state) {
  if (!state.pending) {
    state.pending = true;
    requestAnimationFrame(() => renderLive(state));
  }
}

function applyLine(state, line) {
  if (!line.trim()) return; // heartbeat
  const msg = JSON.parse(line);
  if (msg.header) {
    state.columns = msg.header.columns.map((c) => c.name);
    state.key = msg.header.key;
    setHead($("live"), state.columns);
  } else if (msg.row) {
    const k = rowKey(state, msg.row);
    state.rows.delete(k);
    state.rows.set(k, msg.row);
    state.changed.add(k);
    if (!state.key.length && state.rows.size > MAX_APPEND_ROWS)
      state.rows.delete(state.rows.keys().next().value);
    state.seq = msg.seq;
  } else if (msg.delete) {
    state.rows.delete(rowKey(state, msg.delete));
    state.seq = msg.seq;
  } else if (msg.error) {
    showError($("live-error"), describeError(new ApiError(0, msg.error)));
  }
  scheduleRender(state);
}

async function watch(id) {
  stopLive();
  const state = {
    controller: new AbortController(), columns: [], key: [], rows: new Map(),
    changed: new Set(), seq: 0, next: 0, pending: false, ended: false,
  };
  live = state;
  $("live-name").textContent = id;
  $("live").tHead.replaceChildren();
  $("live").tBodies[0].replaceChildren();
  showError($("live-error"), "");
  $("live-info").textContent = "connecting…";
  $("live-stop").disabled = false;
  try {
    const res = await fetch(`/v1/queries/${encodeURIComponent(id)}/results?snapshot=true`, {
      headers: headers({ Accept: "application/x-ndjson" }),
      signal: state.controller.signal,
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(res.status, body.error || {});
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        applyLine(state, buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
    state.ended = true;
    scheduleRender(state);
  } catch (e) {
    if (e.name !== "AbortError") showError($("live-error"), describeError(e));
  } finally {
    if (live === state) $("live-stop").disabled = true;
  }
}

function stopLive() {
  if (live) live.controller.abort();
  live = null;
  $("live-stop").disabled = true;
}

$("live-stop").addEventListener("click", () => {
  stopLive();
  $("live-info").textContent = "stopped";
});

refresh();
setInterval(refresh, REFRESH_MS);
