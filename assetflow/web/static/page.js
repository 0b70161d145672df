// assetflow's page: what every view uses — the JSON API, elements, times, errors, the
// keyboard. Plain JavaScript over the JSON API (docs/ui.md); the views are in graph.js,
// asset.js, runs.js and envs.js; app.js routes between them.
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
