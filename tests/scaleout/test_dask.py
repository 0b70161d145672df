"""executor = "dask" (issue 17) on a real LocalCluster of spawned worker processes: the
example on Delta tables and on the warehouse file gives the tables of the embedded run, and
the same status and plan after a landing file changes; a worker killed with SIGKILL mid-run
costs nothing but time."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import FIXTURES, REPO, make_project

pytest.importorskip("distributed")
pytest.importorskip("deltalake")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

DASK = 'executor = "dask"\ndask_workers = 2\n'
DELTA = 'storage = "delta"\nstorage_path = "lake"\n'
RANGE = ("--from", "2013-01-01", "--to", "2013-01-10")


def example(root, landing, extra=""):
    project = make_project(root, REPO / "definitions", extra)
    shutil.copytree(landing, project.root / "landing")
    return project


def tables(project):
    """Every asset table's rows, ordered (the warehouse reads Delta-stored ones through
    their views over the tables' current files)."""
    names = [
        n
        for (n,) in project.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            " ORDER BY 1"
        )
    ]
    return {n: project.query(f'SELECT * FROM "{n}" ORDER BY ALL') for n in names}


def non_fresh(project):
    report = json.loads(project.run("status", "--json", *RANGE).output)
    return {
        (a["asset"], n["partition"]): (n["status"], tuple(n["causes"]))
        for a in report["assets"]
        for n in a["nodes"]
    }


def planned(project):
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes", *RANGE).output)
    return sorted((n["asset"], n["partition"], n["reason"]) for n in plan["nodes"])


def test_the_example_on_dask_gives_the_embedded_tables_status_and_plans(tmp_path, landing):
    embedded = example(tmp_path / "embedded", landing)
    on_delta = example(tmp_path / "delta", landing, DASK + DELTA)
    on_file = example(tmp_path / "file", landing, DASK)
    projects = (embedded, on_delta, on_file)
    for project in projects:
        done = project.run("materialize", *RANGE)
        assert done.exit_code == 0, done.output
    assert "SQL assets run here" in projects[2].run("materialize", *RANGE, "--force").output
    reference = tables(embedded)
    assert len(reference) >= 10 and all(reference.values())
    assert tables(on_delta) == reference
    assert tables(on_file) == reference
    # every asset's rows are in its Delta table, not in the warehouse file
    assert sorted(os.listdir(on_delta.root / "lake")) == sorted(reference)
    # a landing file changes: the same nodes are stale for the same causes, the same plan
    for project in projects:
        path = project.root / "landing" / "flights" / "2013-01-05.csv"
        path.write_text("\n".join(path.read_text().splitlines()[:-20]) + "\n")
    assert non_fresh(on_delta) == non_fresh(on_file) == non_fresh(embedded) != {}
    assert planned(on_delta) == planned(on_file) == planned(embedded)
    for project in projects:
        done = project.run("materialize", *RANGE)
        assert done.exit_code == 0, done.output
        assert non_fresh(project) == {}
    reference = tables(embedded)
    assert tables(on_delta) == reference
    assert tables(on_file) == reference


def _cli(project, *args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(project.root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )


def _commits(project, asset):
    log = project.root / "lake" / asset / "_delta_log"
    return len(list(log.glob("*.json"))) if log.is_dir() else 0


def _workers(run):
    """The pids of the LocalCluster's worker processes (spawned by the coordinator)."""
    found = set()
    for child in psutil.Process(run.pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != "zombie":
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def test_a_worker_killed_mid_run_costs_time_not_data(tmp_path):
    reference = make_project(tmp_path / "reference", FIXTURES / "chain")
    assert reference.run("materialize").exit_code == 0
    project = make_project(tmp_path / "chain", FIXTURES / "chain", DASK + DELTA)
    run = _cli(project, "materialize", env={"SLOW_SECONDS": "0.4"})
    deadline = time.monotonic() + 120
    while _commits(project, "enriched") < 4:  # some nodes are done, more are running
        assert run.poll() is None and time.monotonic() < deadline, run.stdout.read()
        time.sleep(0.05)
    workers = sorted(_workers(run))
    assert len(workers) == 2, "expected the two Dask worker processes"
    os.kill(workers[0], signal.SIGKILL)
    while len(_workers(run) - {workers[0]}) < 2:  # its nanny starts another in its place
        assert run.poll() is None and time.monotonic() < deadline, run.stdout.read()
        time.sleep(0.05)
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out
    assert "75 of 75 nodes materialized" in out
    assert tables(project) == tables(reference)
    # one current lineage record per node, each naming a Delta commit
    assert project.query(
        "SELECT count(*), count(DISTINCT (asset, partition)) FROM assetflow.nodes"
    ) == [(75, 75)]
