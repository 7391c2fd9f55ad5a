// model.js: the rows of one query's live view, kept exactly as SPEC section 3 defines a
// result stream: the header names the columns and the key; a row with a key replaces the
// row with the same key (upsert), a delete removes it, and a query without a key appends
// every row. Memory is bounded: at most `cap` rows are kept, the least recently changed
// one leaving first. This module has no DOM: tests/browser/model.test.mjs runs it in node.

export const WINDOW_START = "WINDOWSTART";
export const WINDOW_END = "WINDOWEND";
const NUMERIC_TYPES = /^(INT|INTEGER|BIGINT|DOUBLE|DECIMAL)/i;

export class LiveModel {
  constructor(cap) {
    this.cap = cap;
    this.reset();
  }

  reset() {
    this.columns = []; // [{name, type}]
    this.key = [];
    this.rows = new Map(); // key string -> row object, least recently changed first
    this.dirty = new Set(); // keys changed since the last render
    this.fullRedraw = true; // the renderer must rebuild everything
    this.headerSeen = false;
    this.seq = 0; // the largest seq applied: where a reconnect resumes (?from=seq)
    this.evicted = 0; // rows dropped to stay within cap
    this.applied = 0; // row and delete messages applied
    this.nextId = 0; // synthetic keys of a query without a key
  }

  // Lowers or raises the bound; rows beyond it leave at once.
  setCap(cap) {
    this.cap = cap;
    this.trim();
  }

  get windowed() {
    return this.key.includes(WINDOW_START) && this.key.includes(WINDOW_END);
  }

  // The key columns that name a group, the window bounds left out.
  get groupColumns() {
    return this.key.filter((k) => k !== WINDOW_START && k !== WINDOW_END);
  }

  // Columns that can be charted: numbers that are not part of the key.
  get valueColumns() {
    return this.columns
      .filter((c) => !this.key.includes(c.name) && NUMERIC_TYPES.test(c.type))
      .map((c) => c.name);
  }

  keyOf(row) {
    return JSON.stringify(this.key.map((k) => (row[k] === undefined ? null : row[k])));
  }

  // Applies one message of a result stream ({"header"}, {"seq","row"}, {"seq","delete"});
  // error lines are the caller's business. Returns true when the message changed rows.
  apply(msg) {
    if (msg.header) {
      const sameShape =
        this.headerSeen && JSON.stringify(msg.header.key || []) === JSON.stringify(this.key);
      this.columns = msg.header.columns || [];
      this.key = msg.header.key || [];
      this.headerSeen = true;
      if (!sameShape) {
        // A new shape: rows kept under the old key cannot be matched any more.
        this.rows.clear();
        this.dirty.clear();
        this.fullRedraw = true;
      }
      return !sameShape;
    }
    if (msg.row === undefined && msg.delete === undefined) return false;
    const seq = typeof msg.seq === "number" ? msg.seq : 0;
    if (!this.key.length && seq && seq <= this.seq) return false; // replayed append
    if (seq > this.seq) this.seq = seq;
    this.applied++;
    if (msg.delete !== undefined) {
      if (!this.key.length) return false;
      const k = this.keyOf(msg.delete);
      if (!this.rows.delete(k)) return false;
      this.markDirty(k);
      return true;
    }
    const k = this.key.length ? this.keyOf(msg.row) : `#${this.nextId++}`;
    this.rows.delete(k);
    this.rows.set(k, msg.row);
    this.markDirty(k);
    this.trim();
    return true;
  }

  markDirty(k) {
    if (this.fullRedraw) return;
    this.dirty.add(k);
    // While nothing renders (a hidden tab gets no animation frames) the set of changes
    // would grow without bound: past twice the cap, the next render rebuilds instead.
    if (this.dirty.size > 2 * this.cap) {
      this.dirty.clear();
      this.fullRedraw = true;
    }
  }

  trim() {
    while (this.rows.size > this.cap) {
      const oldest = this.rows.keys().next().value;
      this.rows.delete(oldest);
      this.markDirty(oldest);
      this.evicted++;
    }
  }

  // Hands the pending changes to the renderer: {full: bool, keys: [changed keys]}.
  takeChanges() {
    const changes = { full: this.fullRedraw, keys: this.fullRedraw ? [] : [...this.dirty] };
    this.fullRedraw = false;
    this.dirty.clear();
    return changes;
  }
}

// The data of the live chart of a windowed aggregate: x = WINDOWSTART, y = valueColumn,
// one series per group (the key columns other than the window bounds). At most maxWindows
// windows (the latest) and maxSeries series: the groups with the largest total are kept,
// the others are summed into one "other" series. Returns
// {windows: [start, ...] ascending, series: [{label, values: Map start -> number}],
//  folded: number of groups in "other"}.
export function chartData(model, valueColumn, maxSeries, maxWindows) {
  const groupCols = model.groupColumns;
  const groups = new Map(); // label -> Map start -> value
  const starts = new Set();
  for (const row of model.rows.values()) {
    const start = row[WINDOW_START];
    const v = Number(row[valueColumn]);
    if (typeof start !== "number" || row[valueColumn] === null || !Number.isFinite(v)) continue;
    const label = groupCols.length ? groupCols.map((c) => formatValue(row[c])).join(" / ") : "all";
    let values = groups.get(label);
    if (!values) groups.set(label, (values = new Map()));
    // Hopping or session windows may give one group several rows with the same start:
    // the chart shows their sum.
    values.set(start, (values.get(start) || 0) + v);
    starts.add(start);
  }
  const windows = [...starts].sort((a, b) => a - b).slice(-maxWindows);
  const shown = new Set(windows);
  const ranked = [...groups.entries()].map(([label, values]) => {
    let total = 0;
    for (const [s, v] of values) if (shown.has(s)) total += Math.abs(v);
    return { label, values, total };
  });
  ranked.sort((a, b) => b.total - a.total || (a.label < b.label ? -1 : 1));
  const keep = ranked.length > maxSeries ? maxSeries - 1 : maxSeries;
  const series = ranked.slice(0, keep).map(({ label, values }) => ({ label, values }));
  const rest = ranked.slice(keep);
  if (rest.length) {
    const values = new Map();
    for (const r of rest)
      for (const [s, v] of r.values) if (shown.has(s)) values.set(s, (values.get(s) || 0) + v);
    series.push({ label: `other (${rest.length} groups)`, values, other: true });
  }
  return { windows, series, folded: rest.length };
}

export function formatValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// Epoch ms as "2023-11-14 22:13:20" (UTC), milliseconds only when there are some.
export function formatTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return formatValue(ms);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  const iso = d.toISOString(); // 2023-11-14T22:13:20.000Z
  const frac = iso.slice(19, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === ".000" ? "" : frac}`;
}

// A window [start, end) as "2023-11-14 22:13:00 – 22:14:00", the end's date left out when
// it is the start's.
export function formatWindow(start, end) {
  const a = formatTime(start);
  const b = formatTime(end);
  if (a.length >= 10 && b.slice(0, 10) === a.slice(0, 10)) return `${a} – ${b.slice(11)}`;
  return `${a} – ${b}`;
}
