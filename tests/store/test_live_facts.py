"""The status facts a run's process keeps (store/live_facts.py) equal the whole read of the
same snapshot, at every moment of a real run in another process: writes, failures, failed
checks, a window's readers, a table reshaped mid-run, inputs whose data changed; and, for a
question that looks at a few nodes only, on those nodes."""

import datetime as dt
import os
import time

import pytest
from conftest import make_project
from test_crash import finish, start, wait_for_run

from assetflow.app.config import load_project
from assetflow.app.session import Session
from assetflow.app.state import observe_all
from assetflow.core.intervals import Intervals
from assetflow.core.planner import upstream_closure
from assetflow.core.records import Facts
from assetflow.core.status import growing_assets
from assetflow.run.clock import FixedClock
from assetflow.store.facts import facts_of, observed_runs, register
from assetflow.store.facts_wire import question
from assetflow.store.store import Store

pytestmark = pytest.mark.slow  # a run in another process

NOW = dt.datetime(2024, 3, 1)

ASSETS = """
import os
import time

from assetflow import asset, daily, expression, source, window

DAYS = daily("2024-02-01", "2024-02-20")
SALT = int(os.environ.get("SALT", "0"))


@source(partitions=DAYS, observe=lambda key: "v1")
def numbers(ctx):
    return f"SELECT range AS n FROM range({int(ctx.partition[-2:]) * 5})"


@asset(partitions=DAYS)
def base(ctx, numbers):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    return f"SELECT n, n + {SALT} AS v FROM numbers"


@asset(partitions=DAYS, deps={"base": window(-2, 0)})
def rolling(ctx, base):
    return "SELECT count(*) AS n, sum(v) AS total FROM base"


@asset(partitions=DAYS, checks=[expression("total % 3 <> 0")])
def checked(ctx, rolling):
    return "SELECT total FROM rolling"


@asset(partitions=DAYS)
def fragile(ctx, base):
    if SALT and ctx.partition.endswith(("05", "13")):
        raise RuntimeError("fragile fails on this day")
    extra = ", 1 AS wider" if SALT and ctx.partition >= "2024-02-15" else ""
    return f"SELECT count(*) AS n{extra} FROM base"
"""


def test_the_kept_facts_equal_a_whole_read_of_the_same_snapshot_throughout_a_run(tmp_path):
    project = make_project(tmp_path / "p")
    (project.root / "definitions" / "assets.py").write_text(ASSETS)
    assert finish(project, "materialize", "--from", "2024-02-01", "--to", "2024-02-20")[0] == 0
    settings = load_project(project.root)
    session = Session(settings, FixedClock(NOW), NOW)
    graph = session.graph
    code = {name: spec.code_version for name, spec in graph.defs.assets.items()}
    runs = observed_runs(observe_all(session))
    growing = growing_assets(graph)
    days = graph.defs.assets["base"].partitions
    first_days = Intervals.of([(days.index("2024-02-01"), days.index("2024-02-04"))])
    within = upstream_closure(graph, {"checked": first_days}, NOW)  # what its status reads
    # new data in base (SALT): its readers go stale one by one, fragile fails twice and
    # gains a column on the 15th (a reshape), checked fails its check where it lands
    os.environ["SALT"] = "1"
    try:
        run = start(project, "materialize", "--force", "--concurrency", "2", slow="0.3")
    finally:
        del os.environ["SALT"]
    compared, moved = 0, set()
    try:
        wait_for_run(project)
        while run.poll() is None:
            looks_at = within if compared % 2 else None  # a question of a few nodes, or all
            found = kept_and_whole(project, code, runs, growing, looks_at)
            if found is None:
                break  # the run let go meanwhile: what is read next is the file's
            kept, whole = found
            assert kept == whole
            compared += 1
            moved.add(
                tuple(sum(map(len, k.values())) for k in (kept.upstream_changed, kept.failed))
            )
            time.sleep(0.05)
    finally:
        out, err = run.communicate(timeout=180)
    assert run.returncode == 1, err  # fragile failed twice
    assert compared >= 10, "the run ended before the reads did: slow it down"
    assert len(moved) >= 3  # the facts compared moved as the run went


def kept_and_whole(project, code, runs, growing, within):
    """The facts the holder keeps, and the whole read of the same snapshot in the same
    session (both of the nodes `within` alone, if given); None once the holder no longer
    serves this session."""
    store = Store.for_reading(project.warehouse, 10.0)
    try:
        if store.served_by is None:
            return None
        store.use_env("prod")
        asked = question(store.env.chain, code, runs, growing, within=within)
        found = store.conn.facts(asked)
        if found is None:
            return None
        kept = found[0]
        register(store.conn, store.env, code, runs)
        whole = facts_of(store.conn, store.env, growing)[0]
        if store.conn._link.direct is not None:  # the run ended between the two
            return None
        if within is not None:
            return only(kept, within), only(whole, within)
        return kept, whole
    finally:
        store.close()


def only(facts, nodes):
    """The facts of `nodes` alone."""

    def kind(found):
        out = {a: found[a] & nodes[a] for a in sorted(found) if a in nodes}
        return {a: spans for a, spans in out.items() if spans}

    ranges = {n: r for n, r in facts.recorded_ranges.items() if n[1] in nodes.get(n[0], ())}
    return Facts(
        existing=kind(facts.existing),
        code_changed=kind(facts.code_changed),
        schema_changed=kind(facts.schema_changed),
        upstream_changed=kind(facts.upstream_changed),
        failed=kind(facts.failed),
        check_failed=kind(facts.check_failed),
        recorded_ranges=ranges,
    )
