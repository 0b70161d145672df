"""Environments on Delta Lake (issue 31, item 9): an environment's own partitions in Delta
tables of its own, its runs reading each input partition from the environment that holds
it, diffed through the warehouse's views, promoted into prod's tables kill-safely. (Sharing
work, promotion, a nested environment and a revert run on both storages in
test_environments.py, through its `either` fixture.)"""

import json

import pytest
from conftest import FIXTURES, make_project
from test_environments import (
    DAYS,
    LAKE,
    NEW,
    NOW,
    OLD,
    _prod_state,
    counts,
    edit,
    killed_promotions,
    ok,
    promoted_and_reverted,
    rows,
)

pytestmark = pytest.mark.slow  # Delta Lake: spawned workers, real tables

TABLES = ("base", "enriched", "summary")


@pytest.fixture
def lake(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain", extra=LAKE)
    ok(project, "materialize")
    return project


def _files(project) -> dict[str, bytes]:
    """Every file of prod's Delta tables, by path, with its bytes."""
    root = project.root / "lake"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).parts[0].startswith("_env_")
    }


def test_a_change_built_in_dev_on_delta_leaves_prods_tables_alone(lake):
    ok(lake, "env", "create", "dev")
    assert counts(lake, "dev") == counts(lake)
    assert rows(lake, "dev.summary") == rows(lake, "main.summary")
    before, prod_rows = _files(lake), {t: rows(lake, f"main.{t}") for t in TABLES}
    edit(lake, OLD, NEW)
    ok(lake, "--env", "dev", "materialize", *DAYS)
    assert _files(lake) == before  # not a byte of prod's tables moved
    assert {t: rows(lake, f"main.{t}") for t in TABLES} == prod_rows
    built = lake.query(
        "SELECT asset, partition FROM assetflow.materializations WHERE env = 'dev' ORDER BY ALL"
    )
    assert built == [(a, f"2024-02-0{d}") for a in ("enriched", "summary") for d in (3, 4, 5)]
    assert (lake.root / "lake" / "_env_dev" / "enriched" / "_delta_log").is_dir()
    after = counts(lake, "dev")
    assert after["enriched"]["fresh"] == 3 and after["summary"]["fresh"] == 3
    # dev's summary read dev's enriched for those days, prod's elsewhere
    assert rows(lake, "dev.summary") != rows(lake, "main.summary")
    (diff,) = [d for d in json.loads(ok(lake, "env", "diff", "dev", "--json"))
               if d["asset"] == "enriched"]  # fmt: skip
    assert diff["partitions"] == ["2024-02-03", "2024-02-04", "2024-02-05"]
    assert diff["added"] == diff["removed"] > 0


def test_a_promotion_on_delta_killed_at_any_moment_is_finished_or_never_begun(lake, tmp_path):
    trials = killed_promotions(lake, tmp_path, 6, (0.3, 2.5))  # (a process starts in ~1 s)
    before, after = next(trials)
    assert before != after
    seen = set()
    for trial in trials:
        assert _prod_state(lake) in (before, after), f"trial {trial}: readers see half a promotion"
        began = lake.query("SELECT count(*) FROM assetflow.meta WHERE key = 'promoting'")[0][0]
        ok(lake, "env", "create", "other")  # the next writer finishes what was begun
        state = _prod_state(lake)
        assert state == after if began else state in (before, after), f"trial {trial}"
        seen.add((bool(began), state == after))
        assert lake.query("SELECT count(*) FROM assetflow.meta WHERE key = 'promoting'") == [(0,)]
    print("trials (pending, after):", sorted(seen))


def test_a_new_environment_does_not_inherit_what_a_dropped_one_left(lake, tmp_path):
    import shutil

    ok(lake, "env", "create", "dev")
    edit(lake, OLD, NEW)
    ok(lake, "--env", "dev", "materialize", "enriched", *DAYS)
    folder = lake.root / "lake" / "_env_dev"
    shutil.copytree(folder, tmp_path / "left")
    ok(lake, "env", "drop", "dev")
    assert not folder.exists()
    shutil.copytree(tmp_path / "left", folder)  # as a drop killed after its record leaves it
    ok(lake, "env", "create", "dev")
    assert not folder.exists()
    assert rows(lake, "dev.enriched") == rows(lake, "main.enriched")


def test_a_revert_after_vacuum_computes_what_the_vacuum_removed(lake):
    from assetflow.run.delta import DeltaStorage

    def vacuum() -> None:  # the replaced versions' files gone
        storage = DeltaStorage(str(lake.root / "lake"))
        for table in ("enriched", "summary"):
            assert storage.vacuum(table, 0, dry_run=False)

    before, reused = promoted_and_reverted(lake, vacuum)
    assert reused == [False] * 6  # computed, not reused from files that are gone
    assert rows(lake, "main.summary") == before


def test_a_dev_commit_whose_coordinator_died_is_adopted_into_dev(lake, tmp_path):
    import datetime as dt

    from assetflow.app.config import load_project
    from assetflow.app.materialize import RunOptions, materialize
    from assetflow.app.session import Request, Session
    from assetflow.run.clock import FixedClock
    from assetflow.run.delta import DeltaStorage
    from assetflow.run.delta_worker import DeltaWorker
    from assetflow.run.task import make_task

    ok(lake, "env", "create", "dev")
    edit(lake, OLD, NEW)
    prod_rows = rows(lake, "main.enriched")
    now = dt.datetime.fromisoformat(NOW)
    # A worker commits dev's enriched[2024-02-04]; its coordinator dies before recording it.
    with Session(load_project(lake.root, env="dev"), FixedClock(now), now) as session:
        options = RunOptions(dry_run=True, per_node=True)
        plan = materialize(session, Request(("enriched",)), options).plan
        (node,) = [p for p in plan.nodes if p.node.partition == "2024-02-04"]
        spec = session.graph.defs.assets["enriched"]
        task = make_task("deadrun", [node], plan.versions, spec.code_version, 1, now,
                         str(tmp_path / "log.txt"), env="dev")  # fmt: skip
        storage = DeltaStorage(str(lake.root / "lake"))
        done = DeltaWorker(session.graph.defs, lake.root, storage)(task)
    assert done.error is None and done.published is not None
    assert lake.query("SELECT count(*) FROM assetflow.materializations WHERE run_id = 'deadrun'") == [(0,)]  # fmt: skip
    # The next writer in any environment adopts it into dev: recorded there, read there.
    ok(lake, "env", "list")
    ok(lake, "--env", "dev", "status")  # a reader: adopts nothing, fails nothing
    ok(lake, "observe")
    assert lake.query(
        "SELECT env, partition, data_version FROM assetflow.materializations"
        " WHERE run_id = 'deadrun'"
    ) == [("dev", "2024-02-04", done.written["2024-02-04"].data_version)]
    plan = json.loads(ok(lake, "--env", "dev", "materialize", "enriched", "--dry-run", "--json", "--nodes"))  # fmt: skip
    assert "2024-02-04" not in {n["partition"] for n in plan["nodes"]}
    assert rows(lake, "main.enriched") == prod_rows  # prod's rows untouched
    dev = lake.query("SELECT bucket, product FROM dev.enriched WHERE day = 4 ORDER BY n")
    assert dev == [(p % 5, p) for (p,) in lake.query("SELECT product FROM main.enriched WHERE day = 4 ORDER BY n")]  # fmt: skip


@pytest.mark.parametrize("linked", [False, True], ids=["cleared", "cleared-and-linked"])
def test_a_promotion_killed_between_its_commits_to_a_table_is_finished(lake, linked):
    """What a promotion killed after deleting prod's rows of `summary` (and linking dev's
    files beside them) leaves: the next writer adds the files once and records it all."""
    import os

    import duckdb
    from deltalake import DeltaTable

    from assetflow.run.delta import DeltaStorage
    from assetflow.store.environments import begin_pending

    ok(lake, "env", "create", "dev")
    edit(lake, OLD, NEW)
    ok(lake, "--env", "dev", "materialize", *DAYS)
    dev_rows = {t: rows(lake, f"dev.{t}") for t in ("enriched", "summary")}
    run_id = "deadbeef0001"
    with duckdb.connect(str(lake.warehouse)) as conn:
        begin_pending(conn, run_id, "dev")
    keys = [f"2024-02-0{d}" for d in (3, 4, 5)]
    lineage = {"promotion": run_id, "asset": "summary", "env": "prod", "step": "cleared"}
    DeltaStorage(str(lake.root / "lake")).delete("summary", keys, run_id, lineage)
    if linked:
        for f in (lake.root / "lake" / "_env_dev" / "summary").glob("*.parquet"):
            os.link(f, lake.root / "lake" / "summary" / f"promoted-{run_id}-{f.name}")
    assert rows(lake, "main.summary") != dev_rows["summary"]  # the views have not moved

    ok(lake, "env", "create", "other")  # the next writer finishes the promotion
    assert {t: rows(lake, f"main.{t}") for t in dev_rows} == dev_rows
    ours = [
        e for e in DeltaTable(str(lake.root / "lake" / "summary")).history()
        if run_id in e.get("assetflow", "")
    ]  # fmt: skip
    assert len(ours) == 2  # prod's rows deleted once, dev's files added once
    assert lake.query("SELECT count(*) FROM assetflow.meta WHERE key = 'promoting'") == [(0,)]
    plan = json.loads(ok(lake, "materialize", "--dry-run", "--json", "--nodes", *DAYS))
    assert plan["nodes"] == []


def test_vacuum_after_a_promotion_takes_each_tables_own_names_only(lake):
    """dev's files, linked into prod's tables by the promotion, are two names of one file:
    a vacuum of dev's table (or dropping dev) leaves prod's rows whole, and a vacuum of
    prod's takes only what prod replaced."""
    from assetflow.run.delta import DeltaStorage

    ok(lake, "env", "create", "dev")
    edit(lake, OLD, NEW)
    ok(lake, "--env", "dev", "materialize", *DAYS)
    dev_rows = {t: rows(lake, f"dev.{t}") for t in ("enriched", "summary")}
    ok(lake, "env", "promote", "dev")
    storage = DeltaStorage(str(lake.root / "lake"))
    for table in ("enriched", "summary"):
        assert storage.vacuum(f"_env_dev/{table}", 0, dry_run=False)  # dev's names gone
        assert storage.vacuum(table, 0, dry_run=False)  # prod's replaced files gone
    assert {t: rows(lake, f"main.{t}") for t in dev_rows} == dev_rows
    assert "nothing to vacuum" in ok(lake, "vacuum", "--retain-hours", "1", "--dry-run")
    ok(lake, "env", "drop", "dev")
    assert {t: rows(lake, f"main.{t}") for t in dev_rows} == dev_rows
