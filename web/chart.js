// chart.js: the live time-series chart of a windowed aggregate, drawn on a canvas with no
// library: x = WINDOWSTART, one line per series (data from model.js chartData). Colours stay
// with a group while it is shown. The legend is HTML (readable by screen readers), and the
// canvas carries a text summary as its label and data-* counts that the browser tests read.

import { formatTime } from "./model.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
  "#db2777"];
const OTHER_COLOUR = "#6b7280";

export class Chart {
  // canvas: the <canvas>; legend: an element that receives the legend's list.
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.colours = new Map(); // label -> palette index
    this.data = null;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  colourOf(series, labelsShown) {
    if (series.other) return OTHER_COLOUR;
    for (const label of this.colours.keys())
      if (!labelsShown.has(label)) this.colours.delete(label);
    if (!this.colours.has(series.label)) {
      const used = new Set(this.colours.values());
      let i = 0;
      while (used.has(i) && i < PALETTE.length - 1) i++;
      this.colours.set(series.label, i);
    }
    return PALETTE[this.colours.get(series.label)];
  }

  // data: {windows, series, folded} from chartData; valueColumn names the y axis.
  update(data, valueColumn) {
    this.data = data;
    this.valueColumn = valueColumn;
    const labels = new Set(data.series.map((s) => s.label));
    for (const s of data.series) s.colour = this.colourOf(s, labels);
    this.renderLegend();
    this.draw();
  }

  renderLegend() {
    const { windows, series } = this.data;
    const last = windows[windows.length - 1];
    const items = series.map((s) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = s.colour;
      li.append(swatch, `${s.label}`);
      const v = s.values.get(last);
      if (v !== undefined) {
        const value = document.createElement("span");
        value.className = "legend-value";
        value.textContent = ` ${formatNumber(v)}`;
        li.append(value);
      }
      return li;
    });
    this.legend.replaceChildren(...items);
    const points = series.reduce((n, s) => n + s.values.size, 0);
    this.canvas.dataset.series = String(series.length);
    this.canvas.dataset.windows = String(windows.length);
    this.canvas.dataset.points = String(points);
    this.canvas.setAttribute(
      "aria-label",
      windows.length
        ? `${this.valueColumn} per window: ${series.length} series over ${windows.length} ` +
            `windows from ${formatTime(windows[0])} to ${formatTime(last)}`
        : "no windows yet"
    );
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const fg = style.color;
    const grid = style.getPropertyValue("--line") || "#d9dde5";
    ctx.font = `12px ${style.fontFamily}`;
    const data = this.data;
    if (!data || !data.windows.length) {
      ctx.fillStyle = fg;
      ctx.textAlign = "center";
      ctx.fillText("waiting for windows…", width / 2, height / 2);
      return;
    }
    const { windows, series } = data;
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series)
      for (const v of s.values.values()) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    if (lo > 0) lo = 0;
    if (hi <= lo) hi = lo + 1;
    const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(height / 50)));
    lo = Math.min(lo, ticks[0]);
    hi = Math.max(hi, ticks[ticks.length - 1]);

    const labelWidth = Math.max(...ticks.map((t) => ctx.measureText(formatNumber(t)).width));
    const sample = ctx.measureText("00:00:00").width + 16;
    // Room for the y labels, and for half an x label at either end.
    const left = Math.max(labelWidth + 12, sample / 2);
    const right = sample / 2;
    const top = 10;
    const bottom = 26;
    const plotW = Math.max(10, width - left - right);
    const plotH = Math.max(10, height - top - bottom);
    const x0 = windows[0];
    const x1 = windows[windows.length - 1];
    const xOf = (t) => left + (x1 === x0 ? plotW / 2 : ((t - x0) / (x1 - x0)) * plotW);
    const yOf = (v) => top + plotH - ((v - lo) / (hi - lo)) * plotH;

    // Grid and y labels.
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = fg;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of ticks) {
      const y = Math.round(yOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + plotW, y);
      ctx.stroke();
      ctx.fillText(formatNumber(t), left - 6, y);
    }
    // X labels: as many window starts as fit, time of day (UTC).
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const every = Math.max(1, Math.ceil((windows.length * sample) / plotW));
    for (let i = 0; i < windows.length; i += every) {
      const x = xOf(windows[i]);
      ctx.fillText(formatTime(windows[i]).slice(11, 19), x, top + plotH + 8);
    }
    // Lines, a dot on every point.
    for (const s of series) {
      ctx.strokeStyle = s.colour;
      ctx.fillStyle = s.colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let started = false;
      for (const w of windows) {
        const v = s.values.get(w);
        if (v === undefined) {
          started = false;
          continue;
        }
        const x = xOf(w);
        const y = yOf(v);
        if (started) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        started = true;
      }
      ctx.stroke();
      for (const w of windows) {
        const v = s.values.get(w);
        if (v === undefined) continue;
        ctx.beginPath();
        ctx.arc(xOf(w), yOf(v), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
}

// About `count` round tick values covering [lo, hi].
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 0.5; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function formatNumber(v) {
  if (Math.abs(v) >= 1e6) return v.toExponential(2);
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
