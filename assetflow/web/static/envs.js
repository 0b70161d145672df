// Environments: the picker, and an environment's diff against its parent and promotion.
"use strict";

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
