// Runs, a run's Gantt and its nodes' logs, and automation (schedules, sensors, what is late).
"use strict";

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
