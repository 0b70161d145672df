"""The web page's JSON API (issue 18), over real HTTP on 127.0.0.1: the same statuses as the
CLI, a grid per asset, why per node, one-line errors."""

import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import NOW_DT, Project, make_project

from assetflow.app.config import load_project
from assetflow.app.session import Session
from assetflow.run.clock import NoWaitClock
from assetflow.web.server import make_server

PIPELINE = """
import os
from assetflow import asset, daily, multi, static, window

DAYS = daily("2024-01-01", "2024-01-10")


@asset(partitions=DAYS)
def events(ctx):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError("bad day")
    return f"SELECT DATE '{ctx.partition}' AS day, {VERSION} AS v"


@asset(partitions=DAYS, deps={"events": window(-1, 0)}, group="reports")
def rolling(ctx, events):
    return "SELECT max(day) AS day, sum(v) AS v FROM events"


@asset(partitions=multi(day=DAYS, region=static("eu", "us")))
def by_region(ctx, events):
    return f"SELECT '{ctx.dims['region']}' AS region, sum(v) AS v FROM events"
"""


@pytest.fixture(scope="module")
def served_source(tmp_path_factory) -> Path:
    """The pipeline materialized, then 2024-01-04 of `events` failed: built once a module."""
    project = make_project(tmp_path_factory.mktemp("served") / "project")
    project.write("definitions/pipeline.py", PIPELINE.replace("{VERSION}", "1"))
    assert project.run("materialize").exit_code == 0
    project.write("fail-2024-01-04", "")
    here = os.getcwd()
    os.chdir(project.root)  # the pipeline looks for fail-DAY where it runs
    try:
        project.run("materialize", "events", "--force", "--partition", "2024-01-04")
    finally:
        os.chdir(here)
    return project.root


@pytest.fixture
def served(served_source, tmp_path, monkeypatch):
    """A copy of the built project, served over HTTP on 127.0.0.1."""
    shutil.copytree(served_source, tmp_path / "project")
    project = Project(tmp_path / "project")
    monkeypatch.chdir(project.root)
    root = load_project(project.root)
    monkeypatch.setattr("assetflow.web.server.READ_TIMEOUT", 1.0)  # a short body waits 1 s
    server = make_server(
        lambda env: Session(root.in_env(env), NoWaitClock(), NOW_DT), "127.0.0.1", 0
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    yield project, base
    server.shutdown()
    server.server_close()


def get(url):
    return answer(url)


def answer(request):
    """(status, JSON body) of a GET (a URL) or of a prepared request, errors included."""
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_graph_has_every_asset_with_the_counts_status_has(served):
    project, base = served
    status, graph = get(f"{base}/api/graph")
    assert status == 200
    cli = json.loads(project.run("status", "--json").output)
    assert {a["name"]: a["counts"] for a in graph["assets"] if a["kind"] == "asset"} == {
        a["asset"]: {k: v for k, v in a["counts"].items() if k != "late"} for a in cli["assets"]
    }
    layers = {a["name"]: a["layer"] for a in graph["assets"]}
    assert layers["events"] < layers["rolling"] and layers["events"] < layers["by_region"]
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {
        ("events", "rolling"), ("events", "by_region")
    }  # fmt: skip
    assert len(json.dumps(graph)) < 5000  # counts per asset, not nodes
    assert re.fullmatch(r"\d\d:\d\d:\d\d UTC", graph["as_of"])  # a time with its zone


def test_an_assets_grid_and_a_cells_why(served):
    _, base = served
    status, grid = get(f"{base}/api/assets/rolling")
    assert status == 200
    assert grid["keys"][0] == "2024-01-01" and len(grid["keys"]) == 10
    # events[2024-01-04] failed: rolling reads it on the 4th and the 5th.
    assert grid["states"] == "FFFSSFFFFF"
    assert "upstream_stale" in grid["causes"]["3"]
    _, multi = get(f"{base}/api/assets/by_region")
    assert multi["dims"] == ["day", "region"] and len(multi["keys"]) == 20
    _, why = get(f"{base}/api/why?asset=rolling&partition=2024-01-04")
    assert why["status"].startswith("stale") and why["causes"]


def test_errors_are_one_line_json(served):
    _, base = served
    assert get(f"{base}/api/assets/nope")[0] == 400
    assert "unknown asset 'nope'" in get(f"{base}/api/assets/nope")[1]["error"]
    assert get(f"{base}/api/nothing")[0] == 404
    with urllib.request.urlopen(f"{base}/") as page:
        assert b"<title>assetflow</title>" in page.read()


def post(url, body, header=True):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"X-Assetflow": "1"} if header else {})},
    )  # fmt: skip
    return answer(request)


def test_the_pages_plan_is_the_dry_runs_and_posts_need_the_header(served):
    project, base = served
    asked = {"asset": "rolling", "from": "2024-01-03", "to": "2024-01-06"}
    status, plan = post(f"{base}/api/plan", asked)
    assert status == 200
    cli = project.run("materialize", "rolling", "--from", "2024-01-03", "--to", "2024-01-06",
                      "--dry-run", "--json")  # fmt: skip
    assert plan == json.loads(cli.output)
    assert post(f"{base}/api/plan", asked, header=False)[0] == 403  # not from another site
    bad = post(f"{base}/api/plan", {**asked, "from": "2024-13-01"})
    assert bad[0] == 400 and "2024-13-01" in bad[1]["error"]


def test_runs_a_run_and_a_failed_nodes_log(served):
    _, base = served
    status, runs = get(f"{base}/api/runs")
    assert status == 200 and len(runs) == 2
    failed = runs[0]
    _, detail = get(f"{base}/api/runs/{failed['run_id']}")
    assert [(a["asset"], a["partition"], a["status"]) for a in detail["attempts"]] == [
        ("events", "2024-01-04", "failed")
    ]
    query = f"run={failed['run_id']}&asset=events&partition=2024-01-04"
    with urllib.request.urlopen(f"{base}/api/log?{query}") as response:
        assert "bad day" in response.read().decode()
    try:
        urllib.request.urlopen(f"{base}/api/log?run=../etc")
        raise AssertionError("a path outside the logs was served")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404


def test_a_nodes_record_history_and_checks(served):
    _, base = served
    status, found = get(f"{base}/api/node?asset=rolling&partition=2024-01-05")
    assert status == 200
    assert found["why"]["subject"] == "rolling[2024-01-05]"
    assert [(i["name"], i["partition"]) for i in found["record"]["inputs"]] == [
        ("events", "2024-01-04"), ("events", "2024-01-05")
    ]  # fmt: skip
    assert [h["rows"] for h in found["history"]] == [1]
    assert found["checks"] == []


def test_alerts_link_to_the_page_when_ui_url_is_set(tmp_path, monkeypatch):
    from conftest import Receiver, make_project

    receiver = Receiver()
    try:
        monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
        project = make_project(tmp_path / "p", extra='ui_url = "http://127.0.0.1:8765/"\n')
        project.write(
            "definitions/pipeline.py",
            "from assetflow import asset, webhook\n\n\n"
            '@asset(on_failure=[webhook("TEST_WEBHOOK_URL")])\n'
            "def broken(ctx):\n    raise ValueError('no')\n",
        )
        assert project.run("materialize").exit_code == 1
        [(run_id,)] = project.query("SELECT run_id FROM assetflow.runs")
        [alert] = receiver.bodies
        assert alert["text"].endswith(f" — http://127.0.0.1:8765/#run/{run_id}")
        assert alert["fields"]["url"] == f"http://127.0.0.1:8765/#run/{run_id}"
    finally:
        receiver.close()


def test_a_runs_checks(tmp_path):
    from conftest import make_project

    project = make_project(tmp_path / "p")
    project.write(
        "definitions/pipeline.py",
        "from assetflow import asset, expression\n\n\n"
        "@asset(checks=[expression('x > 1', severity='warn')])\n"
        "def one(ctx):\n    return 'SELECT 1 AS x'\n",
    )
    assert project.run("materialize").exit_code == 0
    root = load_project(project.root)
    server = make_server(
        lambda env: Session(root.in_env(env), NoWaitClock(), NOW_DT), "127.0.0.1", 0
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        [(run_id,)] = project.query("SELECT run_id FROM assetflow.runs")
        _, found = get(f"{base}/api/runs/{run_id}")
        assert [(c["check"], c["passed"], c["sample"]) for c in found["checks"]] == [
            ("expression(x > 1)", False, "x=1")  # the failing rows, one line for the page
        ]
    finally:
        server.shutdown()
        server.server_close()


def test_only_the_pages_own_host_names_are_served_and_bodies_are_checked(served):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 is same-origin with
    the server, so the Host (and a POST's Origin) must name the server itself (issue 32 item
    3); a body that is not a JSON object, or that never arrives, is a 400 in one line."""
    import http.client
    import socket
    import time
    import urllib.parse

    _, base = served
    port = urllib.parse.urlsplit(base).port

    def request(method, path, headers, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    own = {"Host": f"127.0.0.1:{port}"}
    assert request("GET", "/api/runs", own)[0] == 200
    assert request("GET", "/api/runs", {"Host": f"localhost:{port}"})[0] == 200
    assert request("GET", "/api/runs", {"Host": f"rebind.example:{port}"})[0] == 403
    post = {"X-Assetflow": "1", "Content-Type": "application/json"}
    launch = json.dumps({"asset": "rolling", "from": "2024-01-03", "to": "2024-01-06"})
    rebound = {**post, "Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}"}
    assert request("POST", "/api/plan", rebound, launch)[0] == 403
    other_origin = {**post, **own, "Origin": f"http://rebind.example:{port}"}
    assert request("POST", "/api/plan", other_origin, launch)[0] == 403
    status, body = request("POST", "/api/plan", {**post, **own}, "[1]")
    assert status == 400 and json.loads(body) == {"error": "the body is not a JSON object"}
    assert request("POST", "/api/plan", {**post, **own}, launch)[0] == 200

    # A Content-Length larger than the body: answered (400) within the read timeout.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(
            f"POST /api/plan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Assetflow: 1\r\n"
            "Content-Length: 1000\r\n\r\n{}".encode()
        )
        reply = raw.recv(1000)
    assert reply.startswith(b"HTTP/1.0 400") and time.monotonic() - started < 20


@pytest.mark.slow  # a real `assetflow ui` process
def test_off_the_loopback_the_page_needs_its_token(project):
    """Issue 30 item 4: `--host 0.0.0.0` serves other machines, so every request needs the
    token printed in the page's address; POSTs still need their header too."""
    import http.client
    import os
    import re
    import subprocess
    import sys

    project.write("definitions/pipeline.py", PIPELINE.replace("{VERSION}", "1"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    env.pop("ASSETFLOW_UI_TOKEN", None)
    ui = subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(project.root), "ui", "--host",
         "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = ui.stdout.readline()
        found = re.search(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)", line)
        assert found, line
        port, token = int(found.group(1)), found.group(2)

        def request(method, path, headers=None, body=None):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()

        assert request("GET", "/")[0] == 401
        assert request("GET", "/api/graph")[0] == 401
        assert request("GET", "/api/graph", {"Cookie": "assetflow_token=wrong"})[0] == 401
        status, headers, _ = request("GET", f"/?token={token}")
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"].split(";")[0]
        assert cookie == f"assetflow_token={token}" and "HttpOnly" in headers["Set-Cookie"]
        assert request("GET", "/", {"Cookie": cookie})[0] == 200
        assert request("GET", "/api/runs", {"Authorization": f"Bearer {token}"})[0] == 200
        plan = json.dumps({"asset": "rolling", "from": "2024-01-03", "to": "2024-01-04"})
        assert request("POST", "/api/plan", {"Cookie": cookie}, plan)[0] == 403  # no header
        assert request("POST", "/api/plan", {"X-Assetflow": "1"}, plan)[0] == 401  # no token
        sent = {"Cookie": cookie, "X-Assetflow": "1", "Content-Type": "application/json"}
        assert request("POST", "/api/plan", sent, plan)[0] == 200
    finally:
        ui.terminate()
        ui.wait(timeout=30)


def test_an_assets_grid_between_two_keys_and_a_range_backwards(served):
    _, base = served
    status, grid = get(f"{base}/api/assets/rolling?from=2024-01-03&to=2024-01-04")
    assert status == 200 and grid["keys"] == ["2024-01-03", "2024-01-04"]
    status, body = get(f"{base}/api/assets/rolling?from=2024-01-05&to=2024-01-02")
    assert status == 400 and body == {"error": "--to 2024-01-02 is before --from 2024-01-05"}
    status, body = get(f"{base}/api/assets/rolling?from=2024-13-45")
    assert status == 400 and "2024-13-45" in body["error"]


def test_the_pages_vendored_libraries_are_served_and_nothing_outside_static(served):
    import http.client
    import urllib.parse

    _, base = served
    port = urllib.parse.urlsplit(base).port

    def fetch(path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()

    status, kind, body = fetch("/static/vendor/dagre/dagre.min.js")
    assert status == 200 and kind.startswith("text/javascript") and b"var dagre=" in body
    assert fetch("/static/vendor/dagre/VERSION")[2].startswith(b"@dagrejs/dagre 3.1.4")
    for outside in ("/static/../server.py", "/static/vendor/../../ui_data.py", "/static/vendor"):
        assert fetch(outside)[0] == 404, outside
