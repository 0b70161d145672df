"""The task boundary: a Task pickles, and its compute step runs in a spawned process from
inputs handed over as Arrow, giving exactly the rows the threaded run stored."""

import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from conftest import NOW_DT, REPO, make_project

from assetflow.app.config import load_project
from assetflow.app.materialize import RunOptions, materialize
from assetflow.app.session import Request, Session
from assetflow.run.clock import FixedClock
from assetflow.run.compute import arrow_table
from assetflow.run.remote import compute_task, read_inputs
from assetflow.run.task import make_task

pytestmark = pytest.mark.slow

# The example's Python asset (a DuckDB relation joined in Python), and an SQL asset with a
# trailing window, so that both kinds of compute step cross the boundary.
ASSETS = ("delays_vs_weather", "rolling_7d_delays")


@pytest.fixture(scope="module")
def example(tmp_path_factory, landing):
    project = make_project(tmp_path_factory.mktemp("tasks") / "p", REPO / "definitions")
    shutil.copytree(landing, project.root / "landing")
    done = project.run("materialize", "--from", "2013-01-01", "--to", "2013-01-10")
    assert done.exit_code == 0, done.output
    return project


def sorted_rows(table):
    names = table.column_names
    return names, sorted(table.to_pylist(), key=lambda row: [str(row[n]) for n in names])


def test_tasks_pickle_and_compute_in_a_spawned_process_as_in_threads(example):
    root = example.root
    with Session(load_project(root), FixedClock(NOW_DT), NOW_DT) as session:
        request = Request(ASSETS, "2013-01-01", "2013-01-10")
        options = RunOptions(dry_run=True, per_node=True, force=True)  # with input versions
        plan = materialize(session, request, options).plan
        defs, store = session.graph.defs, session.reader()
        tasks, inputs, stored = [], [], []
        for asset in ASSETS:
            nodes = [p for p in plan.nodes if p.node.asset == asset]
            assert len(nodes) == 10 and len({p.batch for p in nodes}) == 1  # one batch
            spec = defs.assets[asset]
            task = make_task(
                "r1", nodes, plan.versions, spec.code_version, 1, NOW_DT,
                str(root / "warehouse" / "logs" / "r1" / f"{asset}.log"),
            )  # fmt: skip
            assert pickle.loads(pickle.dumps(task)) == task
            tasks.append(task)
            inputs.append(read_inputs(store, defs, root, task))
            stored.append(
                arrow_table(
                    store.conn.sql(
                        f"SELECT * EXCLUDE (_partition) FROM {asset}"
                        " WHERE _partition BETWEEN '2013-01-01' AND '2013-01-10'"
                    )
                )
            )
    definitions = str(root / "definitions")
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(compute_task, definitions, task, read)
            for task, read in zip(tasks, inputs, strict=True)
        ]
        computed = [f.result(timeout=120) for f in futures]
    for asset, mine, theirs in zip(ASSETS, computed, stored, strict=True):
        assert mine.num_rows > 0, asset
        assert sorted_rows(mine) == sorted_rows(theirs), asset
