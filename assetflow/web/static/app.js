// assetflow's page: the asset graph with a health bar per asset, an asset's partition grid,
// and a node's `why` chain. Plain JavaScript over the JSON API (docs/ui.md).
"use strict";

const STATES = { F: "fresh", S: "stale", M: "missing", X: "failed" };
const BOX = { w: 190, h: 60, dx: 240, dy: 76 };
const STATE_ORDER = ["fresh", "stale", "missing", "failed"];
const SVG = "http://www.w3.org/2000/svg";

// The environment the page looks at: "" for the one `assetflow ui` was started in. Every
// read and every launch names it (`env=`), so a switch changes what every view shows.
let ENV = sessionStorage.getItem("assetflow-env") || "";

async function api(path, post) {
  const init = post === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Assetflow": "1" },
    body: JSON.stringify({ ...post, env: ENV }),
  };
  if (post === undefined && ENV) path += (path.includes("?") ? "&" : "?") + "env=" + encodeURIComponent(ENV);
  const response = await fetch(path, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

let current = null; // the asset shown in the grid

function launchRange(data) {
  // A grouped cell stands for its first..last partitions: launch over those.
  const ends = data.grouped ? data.ranges : data.keys.map((k) => [k, k]);
  const stale = ends.filter((_, i) => data.states[i] !== "F");
  const keys = (stale.length ? stale : ends).flat();
  document.getElementById("launch-from").value = keys[0] || "";
  document.getElementById("launch-to").value = keys[keys.length - 1] || "";
  document.getElementById("plan").replaceChildren();
  document.getElementById("run-button").disabled = true;
}

function selection() {
  return {
    asset: current,
    from: document.getElementById("launch-from").value.trim(),
    to: document.getElementById("launch-to").value.trim(),
    backfill: document.getElementById("as-backfill").checked,
  };
}

async function showPlan() {
  const box = document.getElementById("plan");
  try {
    const plan = await api("/api/plan", selection());
    const byAsset = {};  // asset -> [nodes, first key, last key], from the plan's runs
    for (const r of plan.runs) {
      const seen = byAsset[r.asset];
      byAsset[r.asset] = seen ? [seen[0] + r.nodes, seen[1], r.to] : [r.nodes, r.from, r.to];
    }
    box.replaceChildren(el("p", {}, plan.planned
      ? `${plan.planned} nodes to run:` : "nothing to run: all fresh"));
    const list = el("ul");
    for (const [asset, [n, first, last]] of Object.entries(byAsset)) {
      const span = n > 1 ? `${first}..${last}` : first;
      list.appendChild(el("li", { "data-asset": asset }, `${asset}: ${n} (${span})`));
    }
    box.appendChild(list);
    document.getElementById("run-button").disabled = !plan.planned;
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, String(err.message || err)));
  }
}

async function runIt() {
  document.getElementById("run-button").disabled = true;
  const state = document.getElementById("run-state");
  state.textContent = "starting…";
  await api("/api/launch", selection());
  const asset = current;
  let seen = false;
  for (let tries = 0; tries < 600; tries++) {
    await new Promise((r) => setTimeout(r, 500));
    let graph;
    try {
      graph = await api("/api/graph");
    } catch (err) {
      continue; // a read at the very moment the run lets go: ask again
    }
    freshness(graph);
    const run = graph.in_progress;
    if (run) {
      seen = true;
      const done = Object.values(run.progress || {}).reduce((a, b) => a + b, 0);
      state.textContent = `run ${run.run_id}: ${done} of ${run.planned || "?"} nodes`;
      if (current === asset) await showAsset(asset, true); // node states, live
    } else if (seen || tries > 6) {
      break;
    }
  }
  const [last] = await api("/api/runs");
  if (current === asset) await showAsset(asset, true);
  state.textContent = last ? `run ${last.run_id} ${last.status}` : "";
  state.dataset.status = last ? last.status : ""; // set last: the grid is redrawn by now
}

function el(tag, attrs = {}, text = "") {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function showError(err) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = String(err.message || err);
}

function freshness(payload) {
  const line = payload.in_progress
    ? `as of ${payload.as_of}, run ${payload.in_progress.run_id} in progress`
    : `as of ${payload.as_of}`;
  document.getElementById("freshness").textContent = line;
}

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

// Where each box goes, and each edge's route: dagre's layered layout (ranks left to right,
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
  const ends = (e) => {
    const a = place[e.from], b = place[e.to];
    return [{ x: a.x + BOX.w, y: a.y + BOX.h / 2 }, { x: b.x, y: b.y + BOX.h / 2 }];
  };
  return { place, width, height, routes: ends, groups: [] };
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
  // From the reader's right side to the read one's left, through the points dagre kept
  // for the ranks an edge crosses (not its own ends: those may touch a box's top).
  const gap = (BOX.dx - BOX.w) * 0.75;
  const routes = (e) => {
    const a = place[e.from], b = place[e.to];
    const between = g.edge(e.from, e.to).points.filter((p) => p.x > a.x + BOX.w + gap && p.x < b.x - gap);
    return [{ x: a.x + BOX.w, y: a.y + BOX.h / 2 }, ...between, { x: b.x, y: b.y + BOX.h / 2 }];
  };
  return { place, width, height, routes, groups: boxes };
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
  const { place, routes, width, height, groups } = layout(data);
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
  for (const e of data.edges) {
    const path = el("svg:path", { class: "edge", "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to, d: curve(routes(e)) });
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

function renderGrid(container, data, onCell) {
  const unit = data.grouped || data.unit; // what one cell is: a partition, or a period's
  const columns = { day: 31, hour: 24, month: 12 }[unit];
  if (columns) { // the columns' labels: days, hours, months
    const head = el("div", { class: "row column-labels" });
    head.appendChild(el("span", { class: "label" }, unit));
    const first = unit === "hour" ? 0 : 1;
    for (let i = 0; i < columns; i++) {
      head.appendChild(el("span", { class: "column-label" }, String(i + first).padStart(2, "0")));
    }
    container.appendChild(head);
  }
  const rows = new Map();
  data.keys.forEach((key, i) => {
    const [row, column] = data.cells[i]; // the server places each partition
    if (!rows.has(row)) {
      const line = el("div", { class: "row" });
      line.appendChild(el("span", { class: "label" }, row));
      rows.set(row, line);
      container.appendChild(line);
    }
    if (columns) { // under its day's, hour's or month's label
      const line = rows.get(row);
      const at = Number(column) - (unit === "hour" ? 0 : 1);
      while (line.children.length - 1 < at) line.appendChild(el("span", { class: "gap" }));
    }
    const state = STATES[data.states[i]];
    const causes = data.causes[String(i)];
    const cell = el("div", { class: `cell ${state}`, "data-key": key, "data-state": state });
    cell.title = `${key} (${column}): ${state}${causes ? " — " + causes.join(", ") : ""}`;
    if (data.grouped) { // a period's partitions: how many of each state, and which
      const [fresh, stale, missing, failed] = data.counts[i];
      const [first, last] = data.ranges[i];
      cell.title = `${first}..${last}: ${fresh} fresh, ${stale} stale, ${missing} missing, ` +
        `${failed} failed${causes ? " — " + causes.join(", ") : ""}`;
    }
    cell.addEventListener("click", (event) => onCell(key, event, i));
    keyboard(cell, (event) => onCell(key, event, i), cell.title);
    rows.get(row).appendChild(cell);
  });
}

// An asset's declaration, table, checks and latest builds beside its grid.
async function showMeta(name) {
  const meta = await api(`/api/meta?asset=${encodeURIComponent(name)}`);
  if (current !== name) return;
  const box = document.getElementById("asset-meta");
  box.replaceChildren();
  const facts = el("dl");
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    facts.appendChild(el("dt", {}, term));
    facts.appendChild(el("dd", {}, String(value)));
  };
  add("description", meta.description);
  add("group", meta.group);
  add("code version", meta.code_version);
  add("declared at", meta.where);
  add("reads", meta.reads.join(", "));
  add("checks", meta.checks.map((c) => `${c.name} (${c.severity})`).join(", "));
  box.appendChild(facts);
  const columns = Object.entries(meta.columns);
  if (columns.length) {
    const t = el("table", { class: "columns" });
    t.appendChild(el("caption", {}, Object.keys(meta.contract).length ? "columns (a contract)" : "columns"));
    for (const [column, type] of columns) {
      const tr = el("tr");
      tr.appendChild(el("td", {}, column));
      tr.appendChild(el("td", {}, type));
      t.appendChild(tr);
    }
    box.appendChild(t);
  }
  const failing = meta.check_results.filter((c) => !c.passed);
  box.appendChild(el("p", { class: "check-results" }, meta.check_results.length
    ? `latest checks: ${meta.check_results.length - failing.length} passed, ${failing.length} failed`
    : "no check results yet"));
  box.appendChild(chart("rows", meta.builds.map((b) => [b.partition, b.rows])));
  box.appendChild(chart("seconds", meta.builds.map((b) => [b.partition, b.seconds])));
}

// A bar chart of the latest builds, drawn by uPlot: a value axis, the builds' partitions
// along the bottom, and under it the legend, which reads the build under the pointer.
function chart(what, points) {
  const box = el("div", { class: `chart ${what}`, "data-values": JSON.stringify(points.map(([, v]) => v)) });
  box.appendChild(el("p", { class: "title" }, `${what} over the last ${points.length} builds`));
  if (!points.length) return box;
  const keys = points.map(([key]) => key);
  const fmt = (v) => (v === null || v === undefined ? "—" : what === "seconds" ? v.toFixed(2) : Math.round(v).toLocaleString("en"));
  const options = {
    width: 480, height: 150,
    scales: { x: { time: false, range: [-0.5, points.length - 0.5] }, y: { range: (u, lo, hi) => [0, hi || 1] } },
    axes: [
      { values: (u, splits) => splits.map((i) => keys[i] ?? ""), stroke: "#595959", size: 34, space: 90 },
      { values: (u, splits) => splits.map(fmt), stroke: "#595959", size: 56 },
    ],
    series: [
      { label: "partition", value: (u, i) => keys[i] ?? "—" },
      { label: what, fill: "#4a78b8", stroke: "#4a78b8", value: (u, v) => fmt(v),
        paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
    ],
    cursor: { y: false },
  };
  new uPlot(options, [points.map((_, i) => i), points.map(([, v]) => v)], box);
  return box;
}

// What the mouse opens, the keyboard opens too: Tab to it, Enter or Space.
function keyboard(node, open, label) {
  node.setAttribute("tabindex", "0");
  node.setAttribute("role", "button");
  node.setAttribute("aria-label", label);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open(event);
    }
  });
}

function summary(data) {
  // The counts are of the partitions shown: say which those are.
  const counts = {};
  if (data.grouped) {
    for (const c of data.counts) {
      ["fresh", "stale", "missing", "failed"].forEach((state, i) => {
        if (c[i]) counts[state] = (counts[state] || 0) + c[i];
      });
    }
  } else {
    for (const c of data.states) counts[STATES[c]] = (counts[STATES[c]] || 0) + 1;
  }
  const keys = data.grouped ? data.ranges.flat() : data.keys;
  const shown = keys.length > 1 ? `${keys[0]}..${keys[keys.length - 1]}` : keys[0] || "none";
  const by = data.grouped ? ` (a cell a ${data.grouped === "keys" ? "run of keys" : data.grouped})` : "";
  return `${data.partitions}; shown ${shown}${by}: ` +
    Object.entries(counts).map(([k, n]) => `${n.toLocaleString("en")} ${k}`).join(", ");
}

function pick(key) {
  // Shift-click: the first cell starts a range, the next ones stretch it.
  const from = document.getElementById("launch-from"), to = document.getElementById("launch-to");
  if (!document.body.dataset.picking) {
    from.value = to.value = key;
    document.body.dataset.picking = "1";
  } else if (key < from.value) from.value = key;
  else to.value = key;
  document.getElementById("run-button").disabled = true;
}

async function showAsset(name, keepLaunch = false, range = "") {
  showOnly("asset-view");
  document.getElementById("why").hidden = true;
  document.getElementById("launch").hidden = false;
  if (current !== name) document.getElementById("grid").replaceChildren(); // no stale cells
  const [from, to] = range ? range.split("..") : ["", ""];
  const query = range ? `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to || from)}` : "";
  const data = await api(`/api/assets/${encodeURIComponent(name)}${query}`);
  current = name;
  delete document.body.dataset.picking;
  if (!keepLaunch) {
    launchRange(data);
    document.getElementById("run-state").textContent = "";
  }
  freshness(data);
  document.getElementById("asset-title").textContent = name;
  document.getElementById("asset-summary").textContent = summary(data);
  dimensionPicker(name, data, range);
  const grid = document.getElementById("grid");
  grid.replaceChildren();
  if (data.grouped) {  // a cell stands for a period's partitions: open them
    renderGrid(grid, data, (key, event, i) => {
      location.hash = `#asset/${encodeURIComponent(name)}/${data.ranges[i][0]}..${data.ranges[i][1]}`;
    });
  } else {
    renderGrid(grid, data, (key, event) => (event.shiftKey ? pick(key) : showWhy(name, key)));
  }
  showMeta(name).catch(showError);
  // During a run: the nodes it has settled so far, as they settled.
  for (const [key, how] of Object.entries(data.settled || {})) {
    const cell = grid.querySelector(`.cell[data-key="${CSS.escape(key)}"]`);
    if (!cell) continue;
    const state = { success: "fresh", verified: "fresh", failed: "failed" }[how] || "missing";
    cell.className = `cell ${state} settled`;
    cell.dataset.state = state;
    cell.title += ` — this run: ${how}`;
  }
}

// A multi-dimension asset: a select per keyed dimension, "all" or one key, whose choice
// shows that key's partitions (the range `*|KEY|*`, a part per dimension).
function dimensionPicker(name, data, range) {
  const box = document.getElementById("dimension-picker");
  const dims = Object.entries(data.dim_keys || {});
  box.hidden = !dims.length;
  box.replaceChildren();
  if (!dims.length) return;
  const chosen = (range || "").split("..")[0].split("|"); // this view's key per dimension
  const picked = (dim) => {
    const i = data.dims.indexOf(dim);
    return chosen.length === data.dims.length && chosen[i] !== "*" ? chosen[i] : "";
  };
  for (const [dim, keys] of dims) {
    const select = el("select", { "data-dimension": dim, "aria-label": `${dim}: all, or one key` });
    select.appendChild(el("option", { value: "" }, `all ${keys.length.toLocaleString("en")}`));
    for (const key of keys) select.appendChild(el("option", { value: key }, key));
    select.value = picked(dim);
    select.addEventListener("change", () => {
      const parts = data.dims.map((d) => {
        const value = box.querySelector(`select[data-dimension="${CSS.escape(d)}"]`);
        return value && value.value ? value.value : "*";
      });
      const whole = parts.every((p) => p === "*");
      const key = parts.join("|");
      location.hash = `#asset/${encodeURIComponent(name)}` + (whole ? "" : `/${key}..${key}`);
    });
    const label = el("label", {}, `${dim} `);
    label.appendChild(select);
    box.appendChild(label);
  }
}

async function showSelection(names) {
  showOnly("asset-view");
  document.getElementById("why").hidden = true;
  document.getElementById("launch").hidden = true;
  document.getElementById("grid").replaceChildren();
  document.getElementById("asset-meta").replaceChildren();
  current = null;
  const found = await api(`/api/grid?assets=${encodeURIComponent(names.join(","))}`);
  document.getElementById("asset-title").textContent = `${found.length} assets`;
  document.getElementById("asset-summary").textContent = "";
  const grid = document.getElementById("grid");
  grid.replaceChildren();
  for (const data of found) {
    freshness(data);
    const head = el("h3", { class: "grid-asset" });
    head.appendChild(el("a", { href: `#asset/${encodeURIComponent(data.asset)}` }, data.asset));
    head.appendChild(el("span", { class: "grid-summary" }, ` ${summary(data)}`));
    grid.appendChild(head);
    const block = el("div", { class: "grid-block", "data-asset": data.asset });
    renderGrid(block, data, (key) => showWhy(data.asset, key));
    grid.appendChild(block);
  }
}

function reasonList(reason) {
  const item = el("li", {}, `${reason.subject} ${reason.label}${reason.detail ? " — " + reason.detail : ""}`);
  if (reason.causes && reason.causes.length) {
    const list = el("ul");
    for (const c of reason.causes) list.appendChild(reasonList(c));
    item.appendChild(list);
  }
  return item;
}

function sparkline(history) {
  const w = 240, h = 40, pad = 5;
  const svg = el("svg:svg", { class: "history", width: w, height: h });
  const rows = history.map((m) => m.rows || 0);
  const top = Math.max(1, ...rows);
  const step = rows.length > 1 ? (w - 2 * pad) / (rows.length - 1) : 0;
  const points = rows.map((r, i) => `${pad + i * step},${h - 4 - (r / top) * (h - 8)}`).join(" ");
  svg.appendChild(el("svg:polyline", { points, fill: "none", stroke: "#36c", "stroke-width": 2 }));
  for (const [i, r] of rows.entries()) {
    const dot = el("svg:circle", { cx: pad + i * step, cy: h - 4 - (r / top) * (h - 8), r: 3, fill: "#36c" });
    dot.appendChild(el("svg:title", {}, `${history[i].ended_at}: ${r} rows (run ${history[i].run_id})`));
    svg.appendChild(dot);
  }
  return svg;
}

async function showWhy(asset, key) {
  const data = await api(`/api/node?asset=${encodeURIComponent(asset)}&partition=${encodeURIComponent(key)}`);
  const box = document.getElementById("why");
  const tree = el("ul", { class: "why-tree" });
  tree.appendChild(reasonList(data.why));
  box.replaceChildren(el("h3", {}, `why ${asset}[${key}]`), tree);
  if (data.record) {
    const r = data.record;
    box.appendChild(el("p", { class: "record" },
      `built in run ${r.run_id} at ${String(r.ended_at).slice(0, 19)}; code ${r.code_version}, data ${r.data_version}`));
    const table = el("table", { class: "inputs" });
    table.appendChild(el("tr")).append(el("th", {}, "input"), el("th", {}, "partition"), el("th", {}, "version then"), el("th", {}, "now"));
    for (const i of r.inputs) {
      const row = el("tr", { class: i.recorded === i.current ? "same" : "changed" });
      row.append(el("td", {}, i.name), el("td", {}, i.partition), el("td", {}, i.recorded || "—"), el("td", {}, i.current || "—"));
      table.appendChild(row);
    }
    box.appendChild(table);
  }
  if (data.history.length) {
    box.appendChild(el("p", {}, `rows over its last ${data.history.length} materializations:`));
    box.appendChild(sparkline(data.history));
  }
  for (const c of data.checks) {
    box.appendChild(el("p", { class: c.passed ? "check passed" : "check failed" },
      `check ${c.check}: ${c.passed ? "passed" : "failed"}${c.message ? " — " + c.message : ""}` +
      (c.sample ? ` — e.g. ${c.sample}` : "")));
  }
  box.hidden = false;
}

function showOnly(id) {
  for (const section of ["graph-view", "asset-view", "runs-view", "run-view", "env-view", "automation-view"]) {
    document.getElementById(section).hidden = section !== id;
  }
}

function table(id, headers, rows) {
  const box = document.getElementById(id);
  const t = el("table");
  const head = el("tr");
  for (const h of headers) head.appendChild(el("th", {}, h));
  t.appendChild(head);
  for (const r of rows) {
    const tr = el("tr");
    for (const v of r) tr.appendChild(el("td", {}, v === null || v === undefined ? "" : String(v)));
    t.appendChild(tr);
  }
  box.replaceChildren(rows.length ? t : el("p", { class: "none" }, "none"));
}

// Schedules and their next ticks, sensors and their cursors, what is late, the latest
// backfill's progress, and the tick history (all UTC).
async function showAutomation() {
  showOnly("automation-view");
  const data = await api("/api/automation");
  table("schedules", ["schedule", "cron", "zone", "selection", "last tick", "next ticks"],
    data.schedules.map((s) => [s.name, s.cron, s.timezone, s.selection.join(" ") || "everything",
      utc(s.last_tick), s.next_ticks.map(utc).join(", ")]));
  table("sensors", ["sensor", "watches", "last tick", "cursor: last seen", "partitions seen"],
    data.sensors.map((s) => [s.name, s.watches, utc(s.last_tick), utc(s.cursor_at), s.cursor_partitions]));
  document.getElementById("late-count").textContent = `${data.late_count} late now`;
  table("late", ["asset", "late partitions"], Object.entries(data.late));
  table("sla-misses", ["asset", "partition", "deadline", "alerted"],
    data.sla_misses.map((m) => [m.asset, m.partition, utc(m.deadline), utc(m.alerted_at)]));
  const b = data.backfill;
  document.getElementById("backfill-title").textContent = b
    ? `latest backfill ${b.backfill_id} (${b.from || "first"}..${b.to || "now"})` : "no backfill yet";
  table("backfill", ["asset", "done", "failed", "remaining"], b
    ? Object.entries(b.counts).map(([asset, c]) => [asset, c.done, c.failed, c.remaining]) : []);
  table("ticks", ["evaluated", "kind", "name", "tick", "run", "detail"],
    data.ticks.map((t) => [utc(t.evaluated_at), t.kind, t.name, utc(t.tick_time), t.run_id, t.detail]));
}

async function showRuns() {
  showOnly("runs-view");
  const runs = await api("/api/runs");
  const status = document.getElementById("runs-status").value;
  const trigger = document.getElementById("runs-trigger").value.trim();
  const body = document.querySelector("#runs-table tbody");
  body.replaceChildren();
  for (const r of runs) {
    if ((status && r.status !== status) || (trigger && !String(r.trigger).startsWith(trigger))) continue;
    const row = el("tr", { class: "run", "data-run": r.run_id });
    const cells = [r.run_id, r.trigger, r.env, r.status, `${utc(r.started_at)}`, duration(r), r.planned, r.failed];
    for (const text of cells) {
      row.appendChild(el("td", {}, String(text ?? "")));
    }
    row.addEventListener("click", () => { location.hash = `#run/${r.run_id}`; });
    body.appendChild(row);
  }
}

// Times as the page shows them: UTC, to the second; a run's duration (so far, if running).
function utc(iso) {
  return iso ? `${String(iso).slice(0, 19).replace("T", " ")} UTC` : "";
}

function duration(run) {
  const end = run.ended_at ? Date.parse(run.ended_at) : (run.status === "running" ? Date.now() : NaN);
  const seconds = (end - Date.parse(run.started_at)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return m < 60 ? `${m} min ${s} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

async function cancelRun(id) {
  const button = document.getElementById("cancel-run");
  button.disabled = true;
  button.textContent = "cancelling…";
  await api("/api/cancel", { run: id });
  for (let tries = 0; tries < 120; tries++) {
    await new Promise((r) => setTimeout(r, 500));
    const data = await api(`/api/runs/${encodeURIComponent(id)}`);
    if (data.run.status !== "running") break;
  }
  await showRun(id);
}

async function showRun(id) {
  showOnly("run-view");
  const data = await api(`/api/runs/${encodeURIComponent(id)}`);
  const run = data.run;
  document.getElementById("run-title").textContent = `run ${run.run_id} — ${run.status}`;
  document.getElementById("run-summary").textContent =
    `${run.trigger}${run.env && run.env !== "prod" ? ` in ${run.env}` : ""}, ${utc(run.started_at)},` +
    ` ${run.ended_at ? "took" : "running for"} ${duration(run)}` +
    `: ${run.succeeded} materialized, ${run.verified} verified, ${run.failed} failed, ${run.skipped} not run` +
    (run.message ? ` — ${run.message}` : "");
  const checks = data.checks || [];
  const failing = checks.filter((c) => !c.passed);
  const checkLine = document.getElementById("run-checks");
  checkLine.replaceChildren(el("span", {}, checks.length
    ? `checks: ${checks.length - failing.length} passed, ${failing.length} failed` : "no checks ran"));
  for (const c of failing) {
    checkLine.appendChild(el("div", { class: "check failed" },
      `${c.asset}[${c.partition}] ${c.check} (${c.severity}): ${c.message || ""}` +
      (c.sample ? ` — e.g. ${c.sample}` : "")));
  }
  document.body.dataset.runStatus = run.status;
  const cancel = document.getElementById("cancel-run");
  cancel.hidden = run.status !== "running";
  cancel.disabled = false;
  cancel.textContent = "Cancel this run";
  cancel.onclick = () => cancelRun(run.run_id).catch(showError);
  const svg = document.getElementById("gantt");
  svg.replaceChildren();
  const attempts = data.attempts;
  let t0 = Infinity, t1 = -Infinity;
  for (const a of attempts) {
    t0 = Math.min(t0, Date.parse(a.started_at));
    t1 = Math.max(t1, Date.parse(a.ended_at || a.started_at));
  }
  const span = Math.max(1, t1 - t0);
  const left = 260, width = 640, row = 16, axis = 22;
  svg.setAttribute("width", left + width + 40);
  svg.setAttribute("height", attempts.length * row + 10 + axis);
  for (let k = 0; k <= 4; k++) { // the time axis: seconds since the first attempt started
    const x = left + (k / 4) * width;
    svg.appendChild(el("svg:line", { class: "tick", x1: x, x2: x, y1: axis - 6, y2: axis + attempts.length * row }));
    svg.appendChild(el("svg:text", { class: "tick", x, y: axis - 10, "text-anchor": "middle" },
      `${((k / 4) * span / 1000).toFixed(span < 10000 ? 1 : 0)} s`));
  }
  // Rows are drawn as they come into view (and a screenful around): a run of 10,000
  // attempts draws what can be seen, not 30,000 elements.
  const drawn = new Set();
  const drawRow = (i) => {
    const a = attempts[i];
    const start = Date.parse(a.started_at), end = Date.parse(a.ended_at || a.started_at);
    const y = axis + 4 + i * row;
    svg.appendChild(el("svg:text", { x: 0, y: y + 11 }, `${a.asset}[${a.partition}] #${a.attempt}`));
    const bar = el("svg:rect", {
      class: `bar ${a.status}`, x: left + ((start - t0) / span) * width, y,
      width: Math.max(2, ((end - start) / span) * width), height: row - 4,
      "data-status": a.status, "data-row": i,
    });
    const retry = a.next_retry_at ? `, next retry ${a.next_retry_at}` : "";
    bar.appendChild(el("svg:title", {}, `${a.status}${a.error_message ? ": " + a.error_message : ""}${retry}`));
    bar.addEventListener("click", () => showLog(run.run_id, a.asset, a.partition));
    svg.appendChild(bar);
  };
  const drawVisible = () => {
    if (document.getElementById("run-view").hidden || svg.dataset.drawing !== drawing) {
      window.removeEventListener("scroll", onScroll);
      return;
    }
    const top = svg.getBoundingClientRect().top, screen = window.innerHeight;
    const first = Math.max(0, Math.floor((-top - axis) / row) - 40);
    const last = Math.min(attempts.length - 1, Math.ceil((screen - top - axis) / row) + 40);
    for (let i = first; i <= last; i++) {
      if (!drawn.has(i)) {
        drawn.add(i);
        drawRow(i);
      }
    }
  };
  let pending = false;
  const onScroll = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; drawVisible(); });
  };
  const drawing = String(Number(svg.dataset.drawing || 0) + 1); // a later showRun draws anew
  svg.dataset.drawing = drawing;
  window.addEventListener("scroll", onScroll, { passive: true });
  drawVisible();
}

async function showLog(run, asset, partition) {
  // A running run's log is read again every two seconds while it shows: it streams.
  const box = document.getElementById("log");
  const query = new URLSearchParams({ run, asset, partition });
  box.dataset.showing = query.toString();
  do {
    const response = await fetch(`/api/log?${query}`);
    box.textContent = await response.text();
    box.hidden = false;
    if (document.body.dataset.runStatus !== "running") break;
    await new Promise((r) => setTimeout(r, 2000));
  } while (box.dataset.showing === query.toString() && !document.getElementById("run-view").hidden);
}

async function showEnvironments() {
  const picker = document.getElementById("env");
  const asked = ENV;
  ENV = ""; // the list comes from the page's own environment (a remembered one may be gone)
  const found = await api("/api/envs");
  ENV = found.envs.includes(asked) ? asked : "";
  picker.replaceChildren(...found.envs.map((name) => el("option", { value: name }, name)));
  picker.value = ENV || found.env;
  picker.closest("label").hidden = found.envs.length < 2;
  document.body.dataset.env = picker.value;
  diffLink(ENV || (found.env === "prod" ? "" : found.env));
}

async function switchEnvironment() {
  ENV = document.getElementById("env").value;
  sessionStorage.setItem("assetflow-env", ENV);
  document.body.dataset.env = ENV;
  diffLink(ENV);
  await route();
}

function diffLink(name) {
  const link = document.getElementById("env-diff-link");
  link.hidden = !name || name === "prod";
  link.href = `#env/${encodeURIComponent(name)}`;
}

// An environment against its parent: which partitions differ (lineage), their rows, and
// promotion after a confirmation (`env diff`, `env promote`).
async function showEnv(name) {
  showOnly("env-view");
  const data = await api(`/api/envs/diff?name=${encodeURIComponent(name)}`);
  document.getElementById("env-title").textContent = `${name} against ${data.parent}`;
  const box = document.getElementById("env-diff");
  box.replaceChildren();
  if (!data.assets.length) box.appendChild(el("p", {}, `${name} holds the same data as ${data.parent}`));
  let total = 0;
  for (const a of data.assets) {
    const p = a.partitions;
    total += p.length;
    const span = p.length > 1 ? `${p[0]}..${p[p.length - 1]}` : p[0];
    const section = el("div", { class: "asset-diff", "data-asset": a.asset });
    section.appendChild(el("h3", {}, a.asset));
    section.appendChild(el("p", { class: "diff-counts" },
      `${p.length} partition${p.length === 1 ? "" : "s"} differ (${span}): ${a.added} rows only in ${name},` +
      ` ${a.removed} only in ${data.parent}` + (a.key.length ? `, ${a.changed} changed by key ${a.key.join(", ")}` : "")));
    for (const [kind, title] of [["added", `only in ${name}`], ["removed", `only in ${data.parent}`],
                                 ["changed", "changed (new, then old)"]]) {
      const rows = (a.samples || {})[kind] || [];
      if (!rows.length) continue;
      const table = el("table", { class: `samples ${kind}` });
      table.appendChild(el("caption", {}, title));
      const head = el("tr");
      for (const c of a.columns) head.appendChild(el("th", {}, c));
      table.appendChild(head);
      for (const r of rows) {
        const tr = el("tr");
        for (const v of r) tr.appendChild(el("td", {}, v === null ? "" : String(v)));
        table.appendChild(tr);
      }
      section.appendChild(table);
    }
    box.appendChild(section);
  }
  const button = document.getElementById("promote-button");
  const state = document.getElementById("promote-state");
  button.hidden = !data.parent;
  button.textContent = `Promote into ${data.parent}`;
  button.onclick = async () => {
    const question = `Promote everything ${name} built (${total} differing partition${total === 1 ? "" : "s"}` +
      ` of ${data.assets.length} asset${data.assets.length === 1 ? "" : "s"}) into ${data.parent}?` +
      ` Their rows replace ${data.parent}'s, in one transaction.`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      const done = await api("/api/promote", { name });
      await showEnv(name); // what differs now: nothing it built
      state.textContent = `promoted ${done.count} partitions into ${done.target} (run ${done.run_id})`;
      state.dataset.done = "1";
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  };
}

async function route() {
  document.getElementById("error").hidden = true;
  try {
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash.startsWith("asset/")) { // asset/NAME, or asset/NAME/FIRST..LAST
      const [name, range] = hash.slice(6).split("/");
      await showAsset(name, false, range || "");
    }
    else if (hash.startsWith("grid/")) await showSelection(hash.slice(5).split(","));
    else if (hash === "runs") await showRuns();
    else if (hash.startsWith("run/")) await showRun(hash.slice(4));
    else if (hash.startsWith("env/")) await showEnv(hash.slice(4));
    else if (hash === "automation") await showAutomation();
    else await showGraph();
  } catch (err) {
    showError(err);
  }
}

document.getElementById("search").addEventListener("input", applyFilter);
document.getElementById("plan-button").addEventListener("click", showPlan);
document.getElementById("run-button").addEventListener("click", runIt);
document.getElementById("runs-status").addEventListener("change", showRuns);
document.getElementById("runs-trigger").addEventListener("input", showRuns);
document.getElementById("env").addEventListener("change", switchEnvironment);
window.addEventListener("hashchange", route);
// A remembered environment is checked before the first view reads it; the page's own
// (none remembered) needs no wait: the environments and the first view are read together.
if (ENV) showEnvironments().catch(showError).then(route);
else Promise.all([showEnvironments().catch(showError), route()]);
