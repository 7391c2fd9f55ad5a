// plan.js: draws a query's operator plan as a graph. The plan is the text of EXPLAIN
// (POST /v1/statements, docs/http-api.md): one operator a line, each child indented two
// spaces under its parent. Each operator becomes a box (its name in bold, its details
// below), sources at the bottom and arrows pointing the way rows flow, up to the output.
// The SVG is built with DOM calls (text is never parsed as markup).

const SVG = "http://www.w3.org/2000/svg";
const BOX_W = 260;
const LINE_H = 15;
const GAP_X = 24;
const GAP_Y = 34;
const CHARS_PER_LINE = 38;
const MAX_DETAIL_LINES = 4;

// "PROJECT [A, B]\n  FILTER x > 1\n    SOURCE S\n" -> the root {op, detail, children}.
export function parsePlan(text) {
  const roots = [];
  const stack = []; // [{node, depth}]
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    const depth = raw.length - raw.trimStart().length;
    const line = raw.trim();
    const space = line.indexOf(" ");
    const node = {
      op: space < 0 ? line : line.slice(0, space),
      detail: space < 0 ? "" : line.slice(space + 1),
      children: [],
    };
    while (stack.length && stack[stack.length - 1].depth >= depth) stack.pop();
    if (stack.length) stack[stack.length - 1].node.children.push(node);
    else roots.push(node);
    stack.push({ node, depth });
  }
  return roots.length === 1 ? roots[0] : { op: "PLAN", detail: "", children: roots };
}

function wrap(text) {
  const lines = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > CHARS_PER_LINE) {
      lines.push(line);
      line = "";
    }
    line = line ? `${line} ${word}` : word;
    while (line.length > CHARS_PER_LINE) {
      lines.push(line.slice(0, CHARS_PER_LINE));
      line = line.slice(CHARS_PER_LINE);
    }
  }
  if (line) lines.push(line);
  if (lines.length > MAX_DETAIL_LINES) {
    lines.length = MAX_DETAIL_LINES;
    lines[MAX_DETAIL_LINES - 1] = `${lines[MAX_DETAIL_LINES - 1].slice(0, CHARS_PER_LINE - 1)}…`;
  }
  return lines;
}

// Lays the tree out: leaves side by side, a parent centred over its children, the root on
// top. Sets x, y, h on every node; returns {width, height}.
function layout(root) {
  let nextX = 0;
  const levels = [];
  const place = (node, depth) => {
    node.lines = wrap(node.detail);
    node.h = 12 + LINE_H * (1 + node.lines.length);
    node.depth = depth;
    levels[depth] = Math.max(levels[depth] || 0, node.h);
    if (!node.children.length) {
      node.x = nextX;
      nextX += BOX_W + GAP_X;
    } else {
      node.children.forEach((c) => place(c, depth + 1));
      const first = node.children[0];
      const last = node.children[node.children.length - 1];
      node.x = (first.x + last.x) / 2;
    }
  };
  place(root, 0);
  const tops = [];
  let y = 0;
  for (const h of levels) {
    tops.push(y);
    y += h + GAP_Y;
  }
  const setY = (node) => {
    node.y = tops[node.depth];
    node.children.forEach(setY);
  };
  setY(root);
  return { width: nextX - GAP_X, height: y - GAP_Y };
}

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// Replaces container's content with the plan's graph; returns the number of operators.
export function renderPlan(container, text) {
  const root = parsePlan(text);
  const size = layout(root);
  const pad = 8;
  const svg = el("svg", {
    viewBox: `${-pad} ${-pad} ${size.width + 2 * pad} ${size.height + 2 * pad}`,
    width: size.width + 2 * pad,
    role: "img",
    class: "plan-graph",
  });
  const defs = el("defs");
  const marker = el("marker", {
    id: "plan-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "plan-arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  const names = [];
  let count = 0;
  const draw = (node) => {
    count++;
    names.push(node.op);
    for (const child of node.children) {
      // Rows flow from the child (below) up into the parent.
      svg.append(el("line", {
        x1: child.x + BOX_W / 2, y1: child.y,
        x2: node.x + BOX_W / 2, y2: node.y + node.h + 2,
        class: "plan-edge", "marker-end": "url(#plan-arrow)",
      }));
      draw(child);
    }
    const g = el("g", { class: "plan-node", transform: `translate(${node.x},${node.y})` });
    g.append(el("title", {}, `${node.op} ${node.detail}`.trim()));
    g.append(el("rect", { width: BOX_W, height: node.h, rx: 6, class: `plan-box op-${node.op.toLowerCase()}` }));
    g.append(el("text", { x: 10, y: 8 + LINE_H - 3, class: "plan-op" }, node.op));
    node.lines.forEach((line, i) => {
      g.append(el("text", { x: 10, y: 8 + LINE_H * (i + 2) - 3, class: "plan-detail" }, line));
    });
    svg.append(g);
  };
  draw(root);
  svg.setAttribute("aria-label", `operator plan, from output to source: ${names.join(" ← ")}`);
  container.replaceChildren(svg);
  return count;
}
