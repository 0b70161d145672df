// The asset graph: boxes with their health bars, laid out by dagre, zoom and pan, the filter.
"use strict";

// Zoom with the wheel (about the pointer), pan by dragging the background, double-click the
// background to see it all again: only the viewBox changes, so it stays fast at any size.
function zoomable(svg, width, height) {
  let box = { x: 0, y: 0, w: width, h: height };
  const apply = () => {
    svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
    svg.dataset.zoom = (width / box.w).toFixed(2);
  };
  apply();
  svg.onwheel = (event) => {
    event.preventDefault();
    const r = svg.getBoundingClientRect();
    const fx = (event.clientX - r.left) / r.width, fy = (event.clientY - r.top) / r.height;
    const w = Math.min(width * 4, Math.max(BOX.w, box.w * (event.deltaY < 0 ? 0.8 : 1.25)));
    const h = w * (height / width);
    box = { x: box.x + (box.w - w) * fx, y: box.y + (box.h - h) * fy, w, h };
    apply();
  };
  let drag = null;
  svg.onpointerdown = (event) => {
    if (event.target !== svg) return; // a box opens its asset; the background pans
    drag = { x: event.clientX, y: event.clientY, from: { ...box } };
    svg.setPointerCapture(event.pointerId);
  };
  svg.onpointermove = (event) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    box = { ...drag.from, x: drag.from.x - ((event.clientX - drag.x) * box.w) / r.width,
            y: drag.from.y - ((event.clientY - drag.y) * box.h) / r.height };
    apply();
  };
  svg.onpointerup = () => { drag = null; };
  svg.ondblclick = (event) => {
    if (event.target !== svg) return;
    box = { x: 0, y: 0, w: width, h: height };
    apply();
  };
  // Bring a box into view: the viewBox moves to it if zoomed away from it (same zoom).
  return (p) => {
    const inside = p.x >= box.x && p.y >= box.y && p.x + BOX.w <= box.x + box.w && p.y + BOX.h <= box.y + box.h;
    if (!inside) {
      box = { ...box, x: p.x + BOX.w / 2 - box.w / 2, y: p.y + BOX.h / 2 - box.h / 2 };
      apply();
    }
  };
}

// Where each box goes, and the points each edge passes between its ends: dagre's layered layout (ranks left to right,
// crossings minimised, edges routed between the boxes) up to LAYOUT_CAP assets; past it,
// the server's layers (sources first, names sorted), which cost nothing to place (dagre
// takes ~0.35 s for 400 boxes in Chromium here, ~2.5 s for 1,000).
const LAYOUT_CAP = 400;

function layout(data) {
  if (typeof dagre !== "undefined" && data.assets.length <= LAYOUT_CAP) {
    try {
      return dagreLayout(data, true);
    } catch (err) { // a grouping dagre cannot draw as boxes: the same layout without them
      return dagreLayout(data, false);
    }
  }
  const place = {};
  for (const a of data.assets) place[a.name] = { x: 10 + a.layer * BOX.dx, y: 10 + a.row * BOX.dy };
  const width = Math.max(...Object.values(place).map((p) => p.x)) + BOX.w + 20;
  const height = Math.max(...Object.values(place).map((p) => p.y)) + BOX.h + 20;
  return { place, width, height, between: () => [], groups: [] };
}

// dagre's layout; with `grouped`, each group's assets inside a box of its own.
function dagreLayout(data, grouped) {
  const g = new dagre.graphlib.Graph({ compound: grouped });
  const top = 16; // room above a group's boxes for its name
  g.setGraph({ rankdir: "LR", nodesep: BOX.dy - BOX.h, ranksep: BOX.dx - BOX.w, marginx: 10, marginy: 10 + top });
  g.setDefaultEdgeLabel(() => ({}));
  for (const a of data.assets) g.setNode(a.name, { width: BOX.w, height: BOX.h });
  const groups = grouped ? [...new Set(data.assets.filter((a) => a.group).map((a) => a.group))] : [];
  for (const name of groups) g.setNode(`group\0${name}`, {});
  for (const a of data.assets) if (grouped && a.group) g.setParent(a.name, `group\0${a.group}`);
  for (const e of data.edges) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const place = {};
  for (const a of data.assets) {
    const n = g.node(a.name);
    place[a.name] = { x: n.x - BOX.w / 2, y: n.y - BOX.h / 2 };
  }
  const boxes = groups.map((name) => {
    const n = g.node(`group\0${name}`);
    return { name, x: n.x - n.width / 2, y: n.y - n.height / 2 - top, w: n.width, h: n.height + top };
  });
  const { width, height } = g.graph();
  // The points dagre kept for the ranks an edge crosses (not its own ends: those may touch
  // a box's top; the edge is drawn from side to side).
  const gap = (BOX.dx - BOX.w) * 0.75;
  const between = (e) => {
    const a = place[e.from], b = place[e.to];
    return g.edge(e.from, e.to).points.filter((p) => p.x > a.x + BOX.w + gap && p.x < b.x - gap);
  };
  return { place, width, height, between, groups: boxes };
}

// A smooth path through an edge's points, leaving and entering each point level.
function curve(points) {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1], b = points[i], dx = (b.x - a.x) / 2;
    d += ` C${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
  }
  return d;
}

async function showGraph() {
  showOnly("graph-view");
  const data = await api("/api/graph");
  freshness(data);
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const { place, between, width, height, groups } = layout(data);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const reveal = zoomable(svg, width, height);
  showMatch = (name) => {
    reveal(place[name]);
    svg.querySelector(`.node[data-name="${CSS.escape(name)}"]`).scrollIntoView({ block: "nearest", inline: "nearest" });
  };
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const box of groups) { // a group's assets inside a box, named at its top
    const g = el("svg:g", { class: "group-box", "data-group": box.name });
    g.appendChild(el("svg:rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 6 }));
    g.appendChild(el("svg:text", { x: box.x + 8, y: box.y + 13 }, `group ${box.name}`));
    svg.appendChild(g);
  }
  for (const e of data.edges) { // from the input's right side to the reader's left
    const a = place[e.from], b = place[e.to];
    const points = [{ x: a.x + BOX.w, y: a.y + BOX.h / 2 }, ...between(e), { x: b.x, y: b.y + BOX.h / 2 }];
    const path = el("svg:path", { class: "edge", "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to, d: curve(points) });
    path.appendChild(el("svg:title", {}, e.mapping));
    svg.appendChild(path);
  }
  for (const a of data.assets) {
    const p = place[a.name];
    const g = el("svg:g", { class: `node ${a.kind}`, transform: `translate(${p.x},${p.y})`, "data-name": a.name, "data-group": a.group || "", "data-states": statesOf(a).join(" ") });
    g.appendChild(el("svg:rect", { class: "box", width: BOX.w, height: BOX.h }));
    g.appendChild(el("svg:text", { x: 8, y: 17 }, a.name));
    if (a.group) g.appendChild(el("svg:text", { class: "group", x: BOX.w - 6, y: 17, "text-anchor": "end" }, a.group));
    const title = el("svg:title", {}, hoverText(a, null));
    g.appendChild(title);
    if (a.counts && STATE_ORDER.slice(1).some((s) => a.counts[s])) {
      g.addEventListener("mouseenter", async () => {  // the causes, once, when first looked at
        if (title.dataset.causes) return;
        title.dataset.causes = "asked";
        const causes = await api(`/api/causes?asset=${encodeURIComponent(a.name)}`);
        title.textContent = hoverText(a, causes);
        title.dataset.causes = "shown";
      });
    }
    if (a.counts) {
      const total = STATE_ORDER.reduce((s, state) => s + a.counts[state], 0);
      let x = 8;
      for (const state of STATE_ORDER) {
        const w = total ? ((BOX.w - 16) * a.counts[state]) / total : 0;
        if (w > 0) g.appendChild(el("svg:rect", { class: `bar ${state}`, x, y: 26, width: w, height: 9 }));
        x += w;
      }
      g.appendChild(el("svg:text", { class: "counts", x: 8, y: 51 }, countsText(a.counts)));
      if (a.counts.late) {
        g.appendChild(el("svg:text", { class: "late", x: BOX.w - 6, y: 51, "text-anchor": "end" }, `late ${a.counts.late.toLocaleString()}`));
      }
      const open = () => { location.hash = `#asset/${encodeURIComponent(a.name)}`; };
      g.addEventListener("click", open);
      keyboard(g, open, `${a.name}: ${countsText(a.counts)}`);
    }
    svg.appendChild(g);
  }
  applyFilter();
}

// "24 fresh · 7 stale": the states an asset has partitions in, as the CLI counts them.
function countsText(counts) {
  const parts = STATE_ORDER.filter((s) => counts[s]).map((s) => `${counts[s].toLocaleString()} ${s}`);
  return parts.join(" · ") || "no partitions in range";
}

function hoverText(a, causes) {
  const lines = [`${a.name}: ${a.partitions}`];
  if (a.group) lines.push(`group ${a.group}`);
  if (a.counts) lines.push(countsText(a.counts) + (a.counts.late ? ` · ${a.counts.late} late` : ""));
  const found = Object.entries(causes || {});
  if (found.length) lines.push("causes: " + found.map(([c, n]) => `${c} ${n.toLocaleString()}`).join(", "));
  return lines.join("\n");
}

// The selection states an asset is in (state:NAME in the filter): from its counts, and
// `changed` (its code differs from what built a partition) from the server.
function statesOf(a) {
  const states = a.changed ? ["changed"] : [];
  for (const s of STATE_ORDER.slice(1)) if (a.counts && a.counts[s]) states.push(s);
  return states;
}

let showMatch = () => {}; // the graph drawn: brings an asset's box into view

function applyFilter(event) {
  const text = document.getElementById("search").value.trim();
  const matching = [];
  for (const node of document.querySelectorAll("#graph .node")) {
    const group = text.startsWith("group:") && node.dataset.group === text.slice(6);
    const state = text.startsWith("state:") && node.dataset.states.split(" ").includes(text.slice(6));
    const match = !text || group || state || node.dataset.name.includes(text);
    node.classList.toggle("dim", !match);
    if (match && text && node.classList.contains("asset")) matching.push(node.dataset.name);
  }
  const link = document.getElementById("selection-link");
  link.hidden = !matching.length;
  link.textContent = `grid of the ${matching.length} matching asset${matching.length === 1 ? "" : "s"}`;
  link.href = `#grid/${matching.map(encodeURIComponent).join(",")}`;
  if (event && matching.length) showMatch(matching[0]); // typed: the first match in view
}
