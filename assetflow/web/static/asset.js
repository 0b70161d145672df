// An asset's page: its grid (or heat map), dimension picker, facts and charts, a node's
// why, and launching a plan and a run from picked cells.
"use strict";

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
