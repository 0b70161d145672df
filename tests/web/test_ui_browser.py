"""The web page in a real headless Chromium (issue 18): graph -> asset -> cell -> why, and the
page during a run started from the command line. Screenshots are kept in the test's folder."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists()), None
)
REQUIRED = os.environ.get("ASSETFLOW_REQUIRE_BROWSER") == "1"  # set by .ci/run
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED, reason="no chromium here: apt-get install chromium"
    ),
]

PIPELINE = """
import os, time
from assetflow import asset, daily, window

DAYS = daily("2024-01-01", "2024-01-20")


@asset(partitions=DAYS)
def events(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, 1 AS v"


@asset(partitions=DAYS, deps={"events": window(-2, 0)}, group="reports")
def rolling(ctx, events):
    return "SELECT max(day) AS day, sum(v) AS v FROM events"


@asset(partitions=DAYS)
def slow(ctx):
    if os.environ.get("SLOW"):
        print(f"sleeping on {ctx.partition}")
        time.sleep(1.5)
    return f"SELECT DATE '{ctx.partition}' AS day"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(project, *args, env=None, wait=True):
    command = [sys.executable, "-m", "assetflow", "--project", str(project.root), *args]
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    if wait:
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def api(base, path):
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def serving(project, *options):
    """`assetflow [OPTIONS] ui` on a free port, answering: its base URL; stopped after."""
    port = free_port()
    server = cli(project, *options, "ui", "--port", str(port), wait=False)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                api(base, "/api/runs")
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def ui(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert cli(project, "materialize").returncode == 0
    (project.root / "definitions" / "pipeline.py").write_text(
        PIPELINE.replace("1 AS v", "2 AS v")
    )  # events changed: all of it and rolling stale
    with serving(project) as base:
        yield project, base


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        yield browser.new_page(viewport={"width": 1200, "height": 700})
        browser.close()


def test_graph_asset_cell_why(ui, page, tmp_path):
    project, base = ui
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    assert page.locator("#graph .node").count() == 3
    bars = page.locator('#graph .node[data-name="rolling"] rect.stale')
    assert bars.count() == 1  # its health bar: all stale
    # Counts by state under each box, as `status --json` counts them; a legend; edges with
    # their direction; the causes on hover.
    assert page.locator("#legend .swatch").count() == 4
    status = json.loads(cli(project, "status", "--json").stdout)
    for a in status["assets"]:
        shown = page.locator(f'#graph .node[data-name="{a["asset"]}"] text.counts').text_content()
        expected = " · ".join(
            f"{a['counts'][s]:,} {s}" for s in ("fresh", "stale", "missing", "failed")
            if a["counts"][s]
        )  # fmt: skip
        assert shown == expected, a
    edge = page.locator("#graph path.edge")
    assert edge.count() == 1 and edge.get_attribute("marker-end") == "url(#arrow)"
    assert (edge.get_attribute("data-from"), edge.get_attribute("data-to")) == ("events", "rolling")
    # Laid out by the vendored dagre: the reader right of what it reads, no box over another.
    assert page.evaluate("typeof dagre.layout") == "function"
    boxes = {
        n: page.locator(f'#graph .node[data-name="{n}"] rect.box').bounding_box()
        for n in ("events", "rolling", "slow")
    }
    assert boxes["rolling"]["x"] >= boxes["events"]["x"] + boxes["events"]["width"]
    for a, b in (("events", "slow"), ("rolling", "slow"), ("events", "rolling")):
        p, q = boxes[a], boxes[b]
        apart_x = p["x"] + p["width"] <= q["x"] or q["x"] + q["width"] <= p["x"]
        apart_y = p["y"] + p["height"] <= q["y"] or q["y"] + q["height"] <= p["y"]
        assert apart_x or apart_y, (a, b)
    # A group's assets inside a box of its own, named.
    group = page.locator('#graph .group-box[data-group="reports"]')
    assert group.locator("text").text_content() == "group reports"
    outer, inner = group.locator("rect").bounding_box(), boxes["rolling"]
    assert outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
    assert outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    for other in ("events", "slow"):  # not in the group: outside its box
        box = boxes[other]
        assert (
            box["x"] >= outer["x"] + outer["width"]
            or box["x"] + box["width"] <= outer["x"]
            or (box["y"] >= outer["y"] + outer["height"] or box["y"] + box["height"] <= outer["y"])
        )
    page.locator('#graph .node[data-name="events"]').hover()  # its causes are asked for
    page.wait_for_selector(
        '#graph .node[data-name="events"] > title[data-causes="shown"]', state="attached"
    )
    hover = page.locator('#graph .node[data-name="events"] > title').text_content()
    assert "20 stale" in hover and "causes: code_changed 20" in hover
    page.screenshot(path=str(tmp_path / "graph.png"), full_page=True)
    page.fill("#search", "roll")
    assert page.locator("#graph .node.dim").count() == 2
    page.fill("#search", "group:reports")
    assert page.locator("#graph .node.dim").count() == 2
    page.fill("#search", "state:changed")  # events' code changed since it was built
    assert page.locator("#graph .node:not(.dim)").evaluate_all(
        "ns => ns.map(n => n.dataset.name)"
    ) == ["events"]
    page.fill("#search", "state:stale")
    assert page.locator("#graph .node.dim").count() == 1  # slow is fresh
    assert page.locator('#graph .node[data-name="rolling"] text.group').text_content() == "reports"
    page.locator('#graph .node[data-name="rolling"]').click()
    page.wait_for_selector("#grid .cell")
    assert page.locator("#grid .cell").count() == 20
    assert page.locator("#grid .cell.stale").count() == 20
    page.locator('#grid .cell[data-key="2024-01-05"]').click()
    page.wait_for_selector("#why:not([hidden])")
    text = page.locator("#why").inner_text()
    assert "rolling[2024-01-05] stale" in text and "events[2024-01-05]" in text
    # Its lineage record: the three days of events it read, and its one materialization.
    assert page.locator("#why table.inputs tr.same").count() == 3
    assert page.locator("#why svg.history circle").count() == 1
    page.screenshot(path=str(tmp_path / "why.png"), full_page=True)


def test_the_page_answers_during_a_run_from_the_command_line(ui, page, tmp_path):
    project, base = ui
    page.goto(f"{base}/")  # the page is open: it has read a status before the run starts
    page.wait_for_selector("#graph .node")
    run = cli(project, "materialize", "slow", "--force", env={"SLOW": "1"}, wait=False)
    try:
        for _ in range(200):
            graph = api(base, "/api/graph")
            if graph["in_progress"]:
                break
            time.sleep(0.1)
        assert graph["in_progress"], "the page never saw the run"
        page.goto(f"{base}/")
        page.wait_for_selector("#graph .node")
        assert "in progress" in page.locator("#freshness").inner_text()
        page.screenshot(path=str(tmp_path / "during-a-run.png"), full_page=True)
        # A grid answers too, as of the run's last commit, and a node's panel (issue 30).
        page.goto(f"{base}/#asset/rolling")
        page.wait_for_selector("#grid .cell")
        assert page.locator("#grid .cell").count() == 20
        assert "in progress" in page.locator("#freshness").inner_text()
        page.locator('#grid .cell[data-key="2024-01-05"]').click()
        page.wait_for_selector("#why:not([hidden])")
        assert "rolling[2024-01-05]" in page.locator("#why").inner_text()
        assert page.locator("#why table.inputs tr").count() >= 3
        # The run's own asset: the nodes it has settled so far show as they settled.
        for _ in range(100):
            if api(base, "/api/assets/slow").get("settled"):
                break
            time.sleep(0.2)
        page.goto(f"{base}/#asset/slow")
        page.wait_for_selector("#grid .cell.settled")
        page.screenshot(path=str(tmp_path / "grid-during-a-run.png"), full_page=True)
        # The runs: the running one first, its timeline, a settled node's log.
        page.goto(f"{base}/#runs")
        page.wait_for_selector("#runs-table tr.run")
        assert "running" in page.locator("#runs-table tr.run").first.inner_text()
        page.locator("#runs-table tr.run").first.click()
        page.wait_for_selector("#gantt rect.bar")
        page.locator("#gantt rect.bar").first.click()
        page.wait_for_selector("#log:not([hidden])")
        assert "sleeping on" in page.locator("#log").inner_text()
        assert run.poll() is None, "the run ended before the page was seen through it"
    finally:
        output = run.communicate(timeout=120)[0].decode()
    assert run.returncode == 0, output  # the page never held the warehouse from the run
    assert api(base, "/api/graph")["in_progress"] is None


def test_plan_and_run_from_the_page_then_see_it_fresh(ui, page, tmp_path):
    project, base = ui
    page.goto(f"{base}/#asset/rolling")
    page.wait_for_selector("#grid .cell")
    assert page.input_value("#launch-from") == "2024-01-01"
    page.fill("#launch-to", "2024-01-05")
    page.click("#plan-button")
    page.wait_for_selector("#plan li")
    planned = page.locator("#plan").inner_text()
    # The plan --dry-run prints: rolling 01..05, and the changed events they read.
    assert "10 nodes to run" in planned
    assert "events: 5 (2024-01-01..2024-01-05)" in planned
    assert "rolling: 5 (2024-01-01..2024-01-05)" in planned
    page.click("#run-button")
    page.wait_for_selector('#run-state[data-status="success"]', timeout=60000)
    states = page.locator("#grid .cell").evaluate_all("cs => cs.map(c => c.dataset.state)")
    assert states[:5] == ["fresh"] * 5 and set(states[5:]) == {"stale"}
    page.screenshot(path=str(tmp_path / "after-a-run.png"), full_page=True)
    runs = json.loads(cli(project, "runs", "--json").stdout)
    assert runs[0]["trigger"] == "ui" and runs[0]["status"] == "success"


def test_runs_a_runs_timeline_and_a_nodes_log(ui, page):
    project, base = ui
    done = cli(project, "materialize", "slow", "--force", "--partition", "2024-01-02",
               env={"SLOW": "1"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    page.goto(f"{base}/#runs")
    page.wait_for_selector("#runs-table tr.run")
    assert page.locator("#runs-table tr.run").count() == 2
    page.select_option("#runs-status", "success")
    page.fill("#runs-trigger", "manual")
    page.locator("#runs-table tr.run").first.click()
    page.wait_for_selector("#gantt rect.bar")
    assert page.locator("#gantt rect.bar").count() == 1  # one node, one attempt
    assert "1 materialized" in page.locator("#run-summary").inner_text()
    page.locator("#gantt rect.bar").click()
    page.wait_for_selector("#log:not([hidden])")
    assert "sleeping on 2024-01-02" in page.locator("#log").inner_text()


def test_a_selection_grid_and_a_backfill_from_picked_cells(ui, page):
    project, base = ui
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    page.fill("#search", "s")  # events and slow
    assert page.locator("#selection-link").inner_text() == "grid of the 2 matching assets"
    page.click("#selection-link")
    page.wait_for_selector("#grid .grid-block")
    blocks = page.locator("#grid .grid-block")
    assert blocks.count() == 2 and page.locator("#grid .cell").count() == 40
    page.goto(f"{base}/#asset/rolling")
    page.wait_for_function(
        "document.getElementById('asset-title').textContent === 'rolling'"
        " && document.querySelectorAll('#grid .cell').length === 20"
    )
    page.locator('#grid .cell[data-key="2024-01-07"]').click(modifiers=["Shift"])
    page.locator('#grid .cell[data-key="2024-01-03"]').click(modifiers=["Shift"])
    assert (page.input_value("#launch-from"), page.input_value("#launch-to")) == (
        "2024-01-03", "2024-01-07"
    )  # fmt: skip
    page.check("#as-backfill")
    page.click("#plan-button")
    page.wait_for_selector("#plan li")
    page.click("#run-button")
    page.wait_for_selector('#run-state[data-status="success"]', timeout=60000)
    [run] = json.loads(cli(project, "runs", "--json").stdout)[:1]
    assert run["trigger"] == "ui"
    backfill = json.loads(cli(project, "backfill", "status", "--json").stdout)
    assert (backfill["from"], backfill["to"]) == ("2024-01-03", "2024-01-07")
    cells = page.locator("#grid .cell").evaluate_all("cs => cs.map(c => c.dataset.state)")
    assert cells[2:7] == ["fresh"] * 5


def test_the_page_shows_an_environment_and_switches(ui, page):
    project, base = ui
    assert cli(project, "env", "create", "dev").returncode == 0
    assert cli(project, "--env", "dev", "materialize", "events", "rolling").returncode == 0
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    # The environments are read beside the first view: the picker shows once they are.
    page.wait_for_selector("#env-picker", state="visible")
    assert page.locator("#env option").all_inner_texts() == ["prod", "dev"]
    events = '#graph .node[data-name="events"]'
    assert page.locator(f"{events} rect.stale").count() == 1  # prod: the change is not there
    page.select_option("#env", "dev")
    page.wait_for_function("document.body.dataset.env === 'dev'")
    page.wait_for_selector(f"{events} rect.fresh")
    assert page.locator(f"{events} rect.stale").count() == 0  # dev built it
    shown = page.locator(f"{events} text.counts").text_content()
    status = json.loads(cli(project, "--env", "dev", "status", "--json").stdout)
    counts = next(a["counts"] for a in status["assets"] if a["asset"] == "events")
    assert shown.startswith(f"{counts['fresh']:,} fresh")
    page.goto(f"{base}/#runs")
    page.wait_for_selector("#runs-table tr.run")
    assert "dev" in page.locator("#runs-table tr.run").first.inner_text()


def test_a_run_is_cancelled_from_its_page_as_ctrl_c_would(ui, page):
    project, base = ui
    run = cli(project, "materialize", "slow", "--force", env={"SLOW": "1"}, wait=False)
    try:
        for _ in range(200):
            live = api(base, "/api/graph")["in_progress"]
            if live and sum(live["progress"].values()) >= 1:
                break
            time.sleep(0.1)
        page.goto(f"{base}/#runs")
        page.wait_for_selector("#runs-table tr.run")
        first = page.locator("#runs-table tr.run").first.inner_text()
        assert "running" in first and " UTC" in first and " s" in first  # started, duration
        page.locator("#runs-table tr.run").first.click()
        page.wait_for_selector("#gantt text.tick")  # a time axis
        page.click("#cancel-run")
        page.wait_for_function("document.body.dataset.runStatus === 'interrupted'", timeout=60000)
        assert page.locator("#cancel-run").is_hidden()
    finally:
        run.communicate(timeout=120)
    assert run.returncode == 130  # interrupted, as Ctrl-C ends a run
    [last, *_] = json.loads(cli(project, "runs", "--json").stdout)
    assert last["status"] == "interrupted"
    assert 1 <= last["succeeded"] < last["planned"]  # what it committed stays


def test_an_environment_is_diffed_and_promoted_from_the_page(ui, page):
    project, base = ui
    assert cli(project, "env", "create", "dev").returncode == 0
    assert cli(project, "--env", "dev", "materialize", "events").returncode == 0
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    page.select_option("#env", "dev")
    page.click("#env-diff-link")
    page.wait_for_selector('#env-diff .asset-diff[data-asset="events"]')
    expected = json.loads(cli(project, "env", "diff", "dev", "--json").stdout)
    shown = page.locator("#env-diff .diff-counts").all_inner_texts()
    assert len(shown) == len(expected) and all(
        f"{d['added']} rows only in dev" in text for d, text in zip(expected, shown, strict=True)
    )
    page.once("dialog", lambda dialog: dialog.dismiss())  # asked, and said no: nothing moves
    page.click("#promote-button")
    assert json.loads(cli(project, "runs", "--json", "--trigger", "promote").stdout) == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#promote-button")
    page.wait_for_selector("#promote-state[data-done='1']")  # set once the diff is redrawn
    assert "holds the same data as prod" in page.locator("#env-diff").inner_text()
    runs = json.loads(cli(project, "runs", "--json", "--trigger", "promote").stdout)
    assert [r["env"] for r in runs] == ["prod"]


AUTOMATION = """
import datetime as dt
from assetflow import asset, daily, file_sensor, schedule, source

DROP_DAYS = daily("2024-01-01", "2024-01-20")


@source(partitions=DROP_DAYS, path="landing/{partition}.csv")
def drops(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(partitions=DROP_DAYS, sla=dt.timedelta(hours=2))
def from_drops(ctx, drops):
    return "SELECT * FROM drops"


nightly = schedule("nightly", "0 3 * * *", ["events"])
watch = file_sensor("drops")
"""


def test_automation_shows_schedules_sensors_ticks_and_what_is_late(ui, page):
    project, base = ui
    project.write("definitions/auto.py", AUTOMATION)
    (project.root / "landing").mkdir(exist_ok=True)
    (project.root / "landing" / "2024-01-02.csv").write_text("x\n1\n")
    ticked = cli(project, "--now", "2024-01-10T04:00:00", "tick")
    assert ticked.returncode in (0, 1), ticked.stdout + ticked.stderr
    page.goto(f"{base}/#automation")
    page.wait_for_selector("#schedules table")
    nightly = page.locator("#schedules tr", has_text="nightly").inner_text()
    assert "0 3 * * *" in nightly and nightly.count("03:00:00 UTC") >= 3  # its next ticks
    assert "drops" in page.locator("#sensors").inner_text()
    recorded = cli(project, "sql", "SELECT count(*) AS n FROM assetflow.ticks", "--json")
    ticks = json.loads(recorded.stdout)[0]["n"]
    assert ticks > 0 and page.locator("#ticks tr").count() == ticks + 1  # and the header
    status = json.loads(cli(project, "status", "--json").stdout)
    late = sum(a["counts"]["late"] for a in status["assets"])
    assert page.locator("#late-count").inner_text() == f"{late} late now"
    assert late > 0 and "from_drops" in page.locator("#late").inner_text()


def test_an_asset_page_says_what_the_asset_is_and_charts_its_builds(ui, page):
    project, base = ui
    page.goto(f"{base}/#asset/rolling")
    page.wait_for_selector("#asset-meta dl")
    meta = page.locator("#asset-meta").inner_text()
    assert "reads" in meta and "events" in meta and "reports" in meta  # its input, its group
    assert "definitions/pipeline.py" in meta  # where it is declared
    columns = project.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema ="
        " 'main' AND table_name = 'rolling' AND column_name <> '_partition'"
        " ORDER BY ordinal_position"
    )
    shown = page.locator("#asset-meta table.columns tr").all_inner_texts()
    assert [tuple(r.split("\t")) for r in shown] == columns
    builds = project.query(
        "SELECT row_count FROM assetflow.materializations WHERE asset = 'rolling'"
        " AND data_version IS NOT NULL ORDER BY materialization_id DESC LIMIT 30"
    )
    rows = page.locator("div.chart.rows")
    values = json.loads(rows.get_attribute("data-values"))
    assert values == [r[0] for r in reversed(builds)]  # oldest first, as drawn
    # Drawn by uPlot: its canvas and axes; the legend reads the build under the pointer.
    page.wait_for_selector("div.chart.rows .uplot canvas")
    assert page.locator("div.chart.rows .u-axis").count() == 2
    over = page.locator("div.chart.rows .u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] - 3, over["y"] + over["height"] / 2)
    legend = page.locator("div.chart.rows .u-legend").inner_text()
    latest = project.query(
        "SELECT partition FROM assetflow.materializations WHERE asset = 'rolling'"
        " AND data_version IS NOT NULL ORDER BY materialization_id DESC LIMIT 1"
    )[0][0]
    assert latest in legend and f"{builds[0][0]:,}" in legend, legend


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => `${v.id}: ${v.help} (${v.nodes.length}: ${v.nodes[0].target})`)"
    )
    return found


def test_every_view_passes_axe_core(ui, page):
    project, base = ui
    project.write("definitions/auto.py", AUTOMATION)
    assert cli(project, "env", "create", "dev").returncode == 0
    assert cli(project, "--env", "dev", "materialize", "events").returncode == 0
    [run] = json.loads(cli(project, "runs", "--json", "--limit", "1").stdout)
    views = {
        "graph": ("#/", "#graph .node"),
        "asset": ("#asset/rolling", "#asset-meta dl"),
        "why": ("#asset/rolling", "#asset-meta dl"),
        "runs": ("#runs", "#runs-table tr.run"),
        "run": (f"#run/{run['run_id']}", "#gantt rect.bar"),
        "automation": ("#automation", "#schedules table"),
        "environment": ("#env/dev", "#env-diff .asset-diff"),
    }
    problems = {}
    for view, (fragment, ready) in views.items():
        page.goto(f"{base}/{fragment}")
        page.wait_for_selector(ready)
        if view == "why":
            page.locator("#grid .cell").first.click()
            page.wait_for_selector("#why:not([hidden])")
        found = serious_violations(page)
        if found:
            problems[view] = found
    assert problems == {}


def test_the_graph_and_a_grid_work_from_the_keyboard(ui, page):
    project, base = ui
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    page.focus('#graph .node[data-name="rolling"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#grid .cell")
    assert page.evaluate("location.hash") == "#asset/rolling"
    page.focus('#grid .cell[data-key="2024-01-05"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#why:not([hidden])")
    assert "rolling[2024-01-05]" in page.locator("#why").inner_text()


def test_the_graph_zooms_and_pans(ui, page):
    project, base = ui
    page.goto(f"{base}/")
    page.wait_for_selector("#graph .node")
    graph = page.locator("#graph")
    first = graph.get_attribute("viewBox")
    box = graph.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] - 5)  # the background, not a box
    page.mouse.wheel(0, -300)
    zoomed = graph.get_attribute("viewBox")
    assert float(graph.get_attribute("data-zoom")) > 1
    assert float(zoomed.split()[2]) < float(first.split()[2])
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + box["height"] - 30)
    page.mouse.up()
    assert graph.get_attribute("viewBox").split()[:2] != zoomed.split()[:2]  # panned
    page.mouse.dblclick(box["x"] + 5, box["y"] + box["height"] - 5)
    assert graph.get_attribute("viewBox") == first
    # Zoomed in on one box, a search for another brings it into view (the zoom kept).
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    for _ in range(6):
        page.mouse.wheel(0, -300)
    zoomed = [float(v) for v in graph.get_attribute("viewBox").split()]

    def shown(name):
        x, y, w, h = (float(v) for v in graph.get_attribute("viewBox").split())
        at = page.locator(f'#graph .node[data-name="{name}"]').get_attribute("transform")
        bx, by = (float(v) for v in at.removeprefix("translate(").rstrip(")").split(","))
        return x <= bx and bx + 190 <= x + w and y <= by and by + 60 <= y + h

    hidden = next(n for n in ("events", "rolling", "slow") if not shown(n))
    page.fill("#search", hidden)
    assert shown(hidden)
    assert float(graph.get_attribute("viewBox").split()[2]) == zoomed[2]  # the same zoom


def test_a_daily_grid_puts_each_day_under_its_label(ui, page):
    project, base = ui
    page.goto(f"{base}/#asset/rolling")
    page.wait_for_selector("#grid .cell")
    labels = page.locator("#grid .column-label")
    assert labels.count() == 31 and labels.nth(4).inner_text() == "05"
    cell = page.locator('#grid .cell[data-key="2024-01-05"]').bounding_box()
    assert abs(cell["x"] - labels.nth(4).bounding_box()["x"]) < 1
    summary = page.locator("#asset-summary").inner_text()
    assert "shown 2024-01-01..2024-01-20" in summary  # what the counts are of
