// The page's routes (the URL's #fragment) and its start: loaded last, after the views.
"use strict";

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
