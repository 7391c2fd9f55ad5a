// live.js: one query's live view. Reads GET /v1/queries/{id}/results (NDJSON) into a
// LiveModel (model.js), renders the changes once per animation frame, whatever the rate of
// rows, and draws the chart of a windowed aggregate. Pause closes the connection; resume
// and every reconnect after a dropped connection ask for ?from=<last seq>, so that no
// change is missed or applied twice; a seq the server no longer keeps (410) starts over
// from a snapshot. Rows reach the page only through textContent.

import { ApiError, describeError, readNdjson, request } from "./api.js";
import { Chart } from "./chart.js";
import {
  LiveModel, WINDOW_END, WINDOW_START, chartData, formatTime, formatValue, formatWindow,
} from "./model.js";

const MAX_SERIES = 6; // lines in the chart, "other" included
const MAX_WINDOWS = 60; // windows along the chart's x axis
const CHART_INTERVAL_MS = 200; // the chart is redrawn at most this often
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const VIEW_MARGIN = 5; // rows put in the table above and below its visible part
// Error codes that end a result stream for good: reconnecting would not help.
const FINAL_CODES = new Set(["QUERY_DROPPED", "QUERY_FAILED", "UNKNOWN_QUERY"]);

export class LiveView {
  // els: the elements of the live section (see index.html); onEnded(id) is told when the
  // query is gone, so that the lists refresh.
  constructor(els, onEnded = () => {}) {
    this.els = els;
    this.onEnded = onEnded;
    this.model = new LiveModel(Number(els.cap.value));
    this.chart = new Chart(els.canvas, els.legend);
    this.id = null;
    this.generation = 0; // bumped by every (re)connect; older read loops stop quietly
    this.controller = null;
    this.state = "idle";
    this.attempt = 0;
    this.retryTimer = null;
    this.framePending = false;
    this.lastChart = 0;
    this.chartTimer = null;
    this.pool = []; // the <tr> elements between the spacers, top to bottom
    this.topSpacer = null;
    this.bottomSpacer = null;
    this.rowHeight = 0;
    this.columns = [];
    this.rateCount = 0;
    this.rateSince = performance.now();
    this.rate = 0;

    els.pause.addEventListener("click", () => (this.state === "paused" ? this.resume() : this.pause()));
    els.reconnect.addEventListener("click", () => this.reconnectNow());
    els.cap.addEventListener("change", () => {
      this.model.setCap(Number(els.cap.value));
      this.schedule();
    });
    els.valueColumn.addEventListener("change", () => this.drawChart(true));
    els.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    // The rate shown is rows (changes) received per second, refreshed even when idle.
    setInterval(() => {
      if (this.id) this.updateRate();
    }, 1000);
  }

  updateRate() {
    const now = performance.now();
    if (now - this.rateSince < 1000) return;
    this.rate = Math.round((this.rateCount * 1000) / (now - this.rateSince));
    this.rateCount = 0;
    this.rateSince = now;
    this.els.rate.textContent = String(this.rate);
  }

  // Shows query id, starting from the current state of every key (?snapshot=true).
  open(id) {
    this.close();
    this.id = id;
    this.model.reset();
    this.pool = [];
    this.els.tbody.replaceChildren();
    this.els.thead.replaceChildren();
    this.els.error.hidden = true;
    this.els.chartBox.hidden = true;
    this.connect({ snapshot: true });
  }

  close() {
    this.generation++;
    if (this.controller) this.controller.abort();
    this.controller = null;
    clearTimeout(this.retryTimer);
    this.id = null;
    this.setState("idle");
  }

  pause() {
    if (!this.id) return;
    this.generation++;
    if (this.controller) this.controller.abort();
    clearTimeout(this.retryTimer);
    this.setState("paused");
  }

  resume() {
    if (this.id) this.connect(this.model.headerSeen ? { from: this.model.seq } : { snapshot: true });
  }

  reconnectNow() {
    if (!this.id) return;
    clearTimeout(this.retryTimer);
    this.resume();
  }

  setState(state, detail = "") {
    this.state = state;
    this.stateDetail = detail;
    const { els } = this;
    const text = {
      idle: "choose “Open” on a query",
      connecting: "connecting…",
      live: "live",
      paused: `paused at seq ${this.model.seq}: resume catches up from there`,
      reconnecting: detail,
      ended: detail,
    }[state];
    els.state.textContent = text;
    els.state.dataset.state = state;
    els.pause.disabled = !this.id || state === "ended";
    els.pause.textContent = state === "paused" ? "Resume" : "Pause";
    els.pause.setAttribute("aria-pressed", String(state === "paused"));
    els.reconnect.hidden = state !== "reconnecting";
    this.schedule();
  }

  showError(text) {
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
  }

  async connect(how) {
    const gen = ++this.generation;
    if (this.controller) this.controller.abort();
    clearTimeout(this.retryTimer);
    const controller = new AbortController();
    this.controller = controller;
    const id = this.id;
    const params = how.snapshot ? "snapshot=true" : `from=${how.from}`;
    this.els.connection.textContent = how.snapshot
      ? "started from the current state (?snapshot=true)"
      : `resumed after seq ${how.from} (?from=${how.from})`;
    this.setState("connecting");
    let ending = null; // the stream's last error line
    try {
      const res = await request(`/v1/queries/${encodeURIComponent(id)}/results?${params}`, {
        headers: { Accept: "application/x-ndjson" },
        signal: controller.signal,
      });
      if (gen !== this.generation) return;
      this.attempt = 0;
      this.showError("");
      this.setState("live");
      await readNdjson(
        res,
        (msg) => {
          if (gen !== this.generation) return;
          if (msg.error) {
            ending = msg.error;
          } else {
            this.model.apply(msg);
            if (!msg.header) this.rateCount++;
          }
        },
        () => {
          if (gen === this.generation) this.schedule();
        }
      );
    } catch (e) {
      if (gen !== this.generation || e.name === "AbortError") return;
      if (e instanceof ApiError) {
        if (e.status === 410 && !how.snapshot) {
          // What we had seen is no longer kept: start over from the current state.
          this.model.reset();
          this.showError(`seq ${how.from} is no longer kept (410 GONE): reloaded the current state`);
          this.connect({ snapshot: true });
          return;
        }
        if (e.status === 404 || e.status === 401) {
          this.showError(describeError(e));
          this.setState("ended", e.status === 401 ? "needs the API token" : "no such query");
          return;
        }
      }
      this.retry(describeError(e));
      return;
    }
    if (gen !== this.generation) return;
    if (ending && FINAL_CODES.has(ending.code)) {
      this.showError(describeError(new ApiError(0, ending)));
      this.setState("ended", `ended: ${ending.code}`);
      this.onEnded(id);
      return;
    }
    if (ending && ending.code === "OVERLOADED") {
      // Too slow for the server's buffer: catching up from seq would fall behind again.
      this.model.reset();
      this.showError(`${describeError(new ApiError(0, ending))}: reloaded the current state`);
      this.connect({ snapshot: true });
      return;
    }
    this.retry(ending ? describeError(new ApiError(0, ending)) : "the connection closed");
  }

  // The connection dropped: try again after a growing pause, from the last seq.
  retry(reason) {
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.setState(
      "reconnecting",
      `connection lost (${reason}); reconnecting from seq ${this.model.seq} in ` +
        `${(delay / 1000).toFixed(1)} s`
    );
    const gen = this.generation;
    this.retryTimer = setTimeout(() => {
      if (gen === this.generation && this.id) this.resume();
    }, delay);
  }

  schedule() {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.render();
    });
  }

  // Column names as shown: a windowed query's two bounds become one WINDOW column.
  displayColumns() {
    const names = this.model.columns.map((c) => c.name);
    if (!(names.includes(WINDOW_START) && names.includes(WINDOW_END))) return names;
    return ["WINDOW", ...names.filter((n) => n !== WINDOW_START && n !== WINDOW_END)];
  }

  fillRow(tr, row) {
    const cols = this.columns;
    if (tr.cells.length !== cols.length) {
      tr.replaceChildren();
      for (let i = 0; i < cols.length; i++) tr.insertCell();
    }
    cols.forEach((c, i) => {
      const td = tr.cells[i];
      if (c === "WINDOW") {
        td.textContent = formatWindow(row[WINDOW_START], row[WINDOW_END]);
        td.title = `[${row[WINDOW_START]}, ${row[WINDOW_END]})`;
      } else {
        const v = row[c];
        const text = formatValue(v);
        td.textContent = text;
        td.title = text.length > 24 ? text : "";
        td.className = typeof v === "number" ? "num" : v === null ? "null" : "";
      }
    });
  }

  render() {
    const { els, model } = this;
    const changes = model.takeChanges();
    if (changes.full) {
      this.columns = this.displayColumns();
      const tr = document.createElement("tr");
      for (const name of this.columns) {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = name;
        if (name === "WINDOW") th.className = "window";
        else if (model.valueColumns.includes(name)) th.className = "num";
        if (model.key.includes(name) || (name === "WINDOW" && model.windowed)) {
          th.classList.add("key");
          th.title = "part of the key";
        }
        tr.append(th);
      }
      els.thead.replaceChildren(tr);
      this.setupChart();
    }
    this.paintRows(new Set(changes.keys));
    this.updateRate();
    els.count.textContent = String(model.rows.size);
    els.seq.textContent = String(model.seq);
    els.evicted.textContent = String(model.evicted);
    els.capNote.hidden = model.evicted === 0;
    els.tbody.dataset.seq = String(model.seq);
    this.drawChart(false);
  }

  // Puts in the table only the rows that its scrolled box shows (plus a margin), most
  // recently changed first; two spacer rows stand for the others. So a frame costs the
  // same whether 100 or 5000 rows are kept and however fast they change.
  paintRows(changed) {
    const { els, model } = this;
    const total = model.rows.size;
    const rowH = this.rowHeight || 28;
    const first = Math.max(0, Math.floor(els.scroller.scrollTop / rowH) - VIEW_MARGIN);
    const count = Math.ceil((els.scroller.clientHeight || 600) / rowH) + 2 * VIEW_MARGIN;
    const keys = [...model.rows.keys()];
    const shown = [];
    for (let i = total - 1 - first; i >= 0 && shown.length < count; i--) shown.push(keys[i]);
    const width = Math.max(1, this.columns.length);
    if (!this.topSpacer) {
      this.topSpacer = spacerRow();
      this.bottomSpacer = spacerRow();
    }
    const tbody = els.tbody;
    if (tbody.firstChild !== this.topSpacer) tbody.replaceChildren(this.topSpacer, this.bottomSpacer);
    // Grow or shrink the pool of rows between the spacers.
    while (this.pool.length < shown.length) {
      const tr = document.createElement("tr");
      this.pool.push(tr);
      tbody.insertBefore(tr, this.bottomSpacer);
    }
    while (this.pool.length > shown.length) this.pool.pop().remove();
    shown.forEach((k, i) => {
      const tr = this.pool[i];
      this.fillRow(tr, model.rows.get(k));
      tr.setAttribute("aria-rowindex", String(first + i + 2));
      if (changed.has(k) && tr.dataset.key === k) tr.className = tr.className === "flash-a" ? "flash-b" : "flash-a";
      else if (tr.dataset.key !== k) tr.className = changed.has(k) ? "flash-a" : "";
      tr.dataset.key = k;
    });
    this.topSpacer.firstChild.colSpan = width;
    this.bottomSpacer.firstChild.colSpan = width;
    this.topSpacer.firstChild.style.height = `${first * rowH}px`;
    this.bottomSpacer.firstChild.style.height = `${Math.max(0, total - first - shown.length) * rowH}px`;
    els.table.setAttribute("aria-rowcount", String(total + 1));
    if (!this.rowHeight && this.pool.length) {
      const h = this.pool[0].getBoundingClientRect().height;
      if (h > 0) this.rowHeight = h;
    }
    els.empty.hidden = !(this.id && model.headerSeen && total === 0);
  }

  setupChart() {
    const { els, model } = this;
    const values = model.valueColumns;
    const show = model.windowed && values.length > 0;
    els.chartBox.hidden = !show;
    if (!show) return;
    const current = els.valueColumn.value;
    els.valueColumn.replaceChildren(
      ...values.map((v) => {
        const o = document.createElement("option");
        o.value = o.textContent = v;
        return o;
      })
    );
    if (values.includes(current)) els.valueColumn.value = current;
  }

  // Redraws the chart at most every CHART_INTERVAL_MS (now when forced).
  drawChart(force) {
    if (this.els.chartBox.hidden) return;
    const now = performance.now();
    const wait = CHART_INTERVAL_MS - (now - this.lastChart);
    if (!force && wait > 0) {
      if (!this.chartTimer)
        this.chartTimer = setTimeout(() => {
          this.chartTimer = null;
          this.drawChart(true);
        }, wait);
      return;
    }
    this.lastChart = now;
    const column = this.els.valueColumn.value;
    const data = chartData(this.model, column, MAX_SERIES, MAX_WINDOWS);
    this.chart.update(data, column);
    this.els.chartCaption.textContent = data.windows.length
      ? `${column} per window, ${formatTime(data.windows[0])} to ` +
        `${formatTime(data.windows[data.windows.length - 1])} UTC` +
        (data.folded ? `; ${data.folded} smaller groups summed into “other”` : "")
      : "waiting for the first window";
  }
}

function spacerRow() {
  const tr = document.createElement("tr");
  tr.className = "spacer";
  tr.setAttribute("aria-hidden", "true");
  tr.insertCell();
  return tr;
}
