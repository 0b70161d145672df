"""Environments beside prod (issue 31): made without copying, a change built in one computes
only what it changes and leaves prod alone, diffed from lineage then rows, promoted in one
transaction, and work shared partition by partition."""

import json

import duckdb
import pytest
from conftest import FIXTURES, make_project

NOW = "2024-03-01T00:00:00"
DAYS = ("--from", "2024-02-03", "--to", "2024-02-05")
OLD, NEW = "product % 7 AS bucket", "product % 5 AS bucket"


LAKE = 'storage = "delta"\nstorage_path = "lake"\n'


@pytest.fixture
def chain(built, tmp_path):
    return built("chain", tmp_path / "p", NOW)


@pytest.fixture(params=["duckdb", pytest.param("delta", marks=pytest.mark.slow)])
def either(request, built, tmp_path):
    """The chain, built with its tables in the warehouse file, and in Delta Lake tables."""
    if request.param == "duckdb":
        return built("chain", tmp_path / "p", NOW)
    project = make_project(tmp_path / "p", FIXTURES / "chain", extra=LAKE)
    ok(project, "materialize")
    return project


def edit(project, old: str, new: str) -> None:
    path = project.root / "definitions" / "assets.py"
    path.write_text(path.read_text().replace(old, new))


def ok(project, *args: str) -> str:
    result = project.run(*args, now=NOW)
    assert result.exit_code == 0, result.output
    return result.output


def counts(project, env: str | None = None) -> dict[str, dict[str, int]]:
    where = ("--env", env) if env else ()
    found = json.loads(ok(project, *where, "status", "--json"))
    return {a["asset"]: a["counts"] for a in found["assets"]}


def rows(project, table: str) -> list[tuple]:
    return project.query(f"SELECT * FROM {table} ORDER BY ALL")


def built_in(project, env: str, run_id: str | None = None) -> list[tuple]:
    """(asset, partition, reused?) of what `env` recorded, oldest first."""
    return project.query(
        "SELECT asset, partition, reused_from IS NOT NULL FROM assetflow.materializations"
        " WHERE env = ? ORDER BY materialization_id",
        [env],
    )


def test_an_environment_reads_prod_until_it_builds_its_own(chain):
    size = chain.warehouse.stat().st_size
    assert "created environment dev from prod" in ok(chain, "env", "create", "dev")
    # at most one DuckDB block (256 KiB) for the catalog's new entries, whatever the data
    assert chain.warehouse.stat().st_size - size <= 256 * 1024
    assert counts(chain, "dev") == counts(chain)  # everything fresh, read from prod
    assert rows(chain, "dev.summary") == rows(chain, "main.summary")
    listed = json.loads(ok(chain, "env", "list", "--json"))
    assert [(e["name"], e["parent"], e["own_nodes"]) for e in listed] == [
        ("prod", None, 75), ("dev", "prod", 0)
    ]  # fmt: skip


def test_a_change_built_in_dev_computes_only_its_nodes_and_leaves_prod(chain):
    ok(chain, "env", "create", "dev")
    prod_before = {t: rows(chain, f"main.{t}") for t in ("base", "enriched", "summary")}
    edit(chain, OLD, NEW)
    stale = counts(chain, "dev")
    assert stale["enriched"]["stale"] == stale["summary"]["stale"] == 25
    assert stale["base"]["stale"] == 0
    ok(chain, "--env", "dev", "materialize", *DAYS)
    built = built_in(chain, "dev")
    assert sorted(built) == sorted(
        (a, f"2024-02-0{d}", False) for a in ("enriched", "summary") for d in (3, 4, 5)
    )
    assert {t: rows(chain, f"main.{t}") for t in prod_before} == prod_before
    after = counts(chain, "dev")
    assert after["enriched"] == {**stale["enriched"], "fresh": 3, "stale": 22}
    runs = json.loads(ok(chain, "runs", "--json"))
    assert runs[0]["env"] == "dev" and runs[-1]["env"] == "prod"


def test_diff_names_the_partitions_then_the_rows(chain):
    ok(chain, "env", "create", "dev")
    edit(chain, OLD, NEW)
    ok(chain, "--env", "dev", "materialize", "enriched", *DAYS)
    found = json.loads(ok(chain, "env", "diff", "dev", "--json"))
    assert [(d["asset"], d["partitions"]) for d in found] == [
        ("enriched", ["2024-02-03", "2024-02-04", "2024-02-05"])
    ]
    (diff,) = found
    moved = chain.query(
        "SELECT count(*) FROM main.enriched WHERE _partition BETWEEN '2024-02-03' AND"
        " '2024-02-05' AND product % 7 <> product % 5"
    )[0][0]
    assert diff["added"] == diff["removed"] == moved > 0  # whole rows: no key declared
    assert diff["changed"] == 0 and len(diff["samples"]["added"]) == 5


def test_diff_by_a_declared_key_pairs_changed_rows(chain):
    ok(chain, "env", "create", "dev")
    edit(chain, "@asset(partitions=DAYS)\ndef enriched", '@asset(partitions=DAYS, key=["n", "day"])\ndef enriched')  # fmt: skip
    edit(chain, OLD, NEW)
    ok(chain, "--env", "dev", "materialize", "enriched", "--partition", "2024-02-03")
    (diff,) = json.loads(ok(chain, "env", "diff", "dev", "--json"))
    assert diff["key"] == ["n", "day"] and diff["added"] == diff["removed"] == 0
    assert diff["changed"] > 0
    new, old = diff["samples"]["changed"][:2]  # a key's new row, then its old one
    assert new[:2] == old[:2] and new[3] != old[3]
    assert "changed by key n, day" in ok(chain, "env", "diff", "dev")


def test_promote_makes_prod_hold_the_change_and_recompute_none_of_it(either, tmp_path):
    ok(either, "env", "create", "dev")
    edit(either, OLD, NEW)
    ok(either, "--env", "dev", "materialize", *DAYS)
    dev_rows = rows(either, "dev.summary")
    assert "promoted enriched 2024-02-03..2024-02-05" in ok(either, "env", "promote", "dev")
    assert rows(either, "main.summary") == dev_rows
    assert rows(either, "dev.summary") == dev_rows  # dev reads them from prod again
    plan = json.loads(ok(either, "materialize", "--dry-run", "--json", "--nodes", *DAYS))
    assert plan["nodes"] == []
    assert len(built_in(either, "dev")) == 6  # its history stays
    assert either.query("SELECT count(*) FROM assetflow.nodes WHERE env = 'dev'") == [(0,)]
    assert json.loads(ok(either, "env", "diff", "dev", "--json")) == []
    promoted = json.loads(ok(either, "runs", "--json", "--trigger", "promote"))
    assert [(r["env"], r["planned"]) for r in promoted] == [("prod", 6)]
    # the same as a clean rebuild with the new code, on the same storage
    settings = (either.root / "pyproject.toml").read_text().split("\n", 1)[1]
    clean = make_project(tmp_path / "clean", either.root / "definitions", extra=settings)
    assert clean.run("materialize", now=NOW).exit_code == 0
    days = "WHERE _partition BETWEEN '2024-02-03' AND '2024-02-05'"
    for table in ("enriched", "summary"):
        promoted = f"(SELECT * FROM main.{table} {days})"
        assert rows(clean, promoted) == rows(either, promoted)
    lake = either.root / "lake"
    if lake.exists():  # on Delta: dev's files linked into prod's tables, not copied
        linked = [p for p in lake.glob("*/promoted-*.parquet") if p.stat().st_nlink == 2]
        assert {p.parent.name for p in linked} == {"enriched", "summary"}
        assert all(any(p.samefile(f) for f in lake.glob("_env_dev/*/*.parquet")) for p in linked)
        from deltalake import DeltaTable  # their statistics added with them: reads skip them

        def files(*keys: str) -> list[str]:
            prune = [("_partition", "in", list(keys))]
            return DeltaTable(str(lake / "summary")).file_uris(file_pruning_predicate=prune)

        assert any("promoted-" in f for f in files("2024-02-04"))
        assert not any("promoted-" in f for f in files("2024-02-01", "2024-02-10"))
        ok(either, "materialize", "summary", "--partition", "2024-02-04", "--force")
        assert rows(either, "main.summary") == dev_rows  # a linked file's partition replaced
    ok(either, "env", "drop", "dev")
    assert not (lake / "_env_dev").exists()  # (on Delta: its folder)
    assert rows(either, "main.summary") == dev_rows  # (a link outlives the other name)


def test_work_is_shared_partition_by_partition(either):
    ok(either, "env", "create", "dev")
    edit(either, OLD, NEW)
    ok(either, "--env", "dev", "materialize", *DAYS)
    ok(either, "env", "create", "dev2")
    ok(either, "--env", "dev2", "materialize", *DAYS)  # the same change: nothing computed
    assert {reused for _, _, reused in built_in(either, "dev2")} == {True}
    assert rows(either, "dev2.summary") == rows(either, "dev.summary")
    edit(either, NEW, OLD)  # reverted: prod holds exactly that
    ok(either, "--env", "dev", "materialize", *DAYS)
    assert {reused for _, _, reused in built_in(either, "dev")[6:]} == {True}
    assert rows(either, "dev.summary") == rows(either, "main.summary")
    assert counts(either, "dev") == counts(either)


def test_environment_mistakes_are_one_line(chain):
    for args, says in (
        (("--env", "nope", "status"), "there is no environment nope"),
        (("env", "create", "prod"), "'prod' cannot name an environment"),
        (("env", "create", "Dev-1"), "cannot name an environment"),
        (("env", "promote", "prod"), "prod has no parent"),
        (("env", "diff", "nope"), "there is no environment nope"),
    ):
        result = chain.run(*args, now=NOW)
        assert result.exit_code == 2, (args, result.output)
        assert says in result.output and "Traceback" not in result.output
    ok(chain, "env", "create", "dev")
    ok(chain, "env", "create", "feature", "--from", "dev")
    again = chain.run("env", "create", "dev", now=NOW)
    assert again.exit_code == 2 and "exists already" in again.output
    held = chain.run("env", "drop", "dev", now=NOW)
    assert held.exit_code == 2 and "feature read through it" in held.output
    ok(chain, "env", "drop", "feature")
    ok(chain, "env", "drop", "dev")
    with duckdb.connect(str(chain.warehouse), read_only=True) as conn:
        schemas = {
            s for (s,) in conn.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        }
    assert not schemas & {"dev", "_env_dev", "feature", "_env_feature"}


def test_a_nested_environment_reads_through_its_parent(either):
    ok(either, "env", "create", "dev")
    edit(either, OLD, NEW)
    ok(either, "--env", "dev", "materialize", "enriched", *DAYS)
    ok(either, "env", "create", "feature", "--from", "dev")
    assert rows(either, "feature.enriched") == rows(either, "dev.enriched")
    assert counts(either, "feature")["enriched"]["fresh"] == 3  # dev's three, read through dev
    ok(either, "--env", "feature", "materialize", *DAYS)  # summary from dev's enriched
    mine, built = counts(either, "feature"), rows(either, "feature.summary")
    assert mine["summary"]["fresh"] == 3
    ok(either, "env", "promote", "feature")  # into dev
    assert either.query("SELECT count(*) FROM assetflow.env_owned WHERE env = 'feature'") == [(0,)]
    assert rows(either, "dev.summary") == rows(either, "feature.summary") == built
    assert counts(either, "dev")["summary"]["fresh"] == 3


def test_a_warehouse_from_before_environments_keeps_every_fresh_node_fresh(chain):
    before = counts(chain)
    with duckdb.connect(str(chain.warehouse)) as conn:  # back to schema 7
        conn.execute("DROP TABLE assetflow.environments")
        conn.execute("DROP TABLE assetflow.env_owned")
        for table in ("materializations", "nodes", "attempt_log", "runs", "backfills"):
            conn.execute(f"ALTER TABLE assetflow.{table} DROP COLUMN env")
        conn.execute("ALTER TABLE assetflow.materializations DROP COLUMN reused_from")
        conn.execute("UPDATE assetflow.meta SET value = '7' WHERE key = 'schema'")
    ok(chain, "materialize")  # the first writer upgrades it
    assert counts(chain) == before
    assert chain.query("SELECT DISTINCT env FROM assetflow.nodes") == [("prod",)]
    ok(chain, "env", "create", "dev")
    assert counts(chain, "dev") == before


def promoted_and_reverted(project, meanwhile=lambda: None) -> tuple[list, list[bool]]:
    """A change built in dev and promoted, dev dropped, `meanwhile()`, then the change
    reverted in prod itself over the same days: prod's summary before it all, and whether
    each of the revert's six nodes was reused (not computed)."""
    before = rows(project, "main.summary")
    ok(project, "env", "create", "dev")
    edit(project, OLD, NEW)
    ok(project, "--env", "dev", "materialize", *DAYS)
    ok(project, "env", "promote", "dev")
    ok(project, "env", "drop", "dev")
    meanwhile()
    edit(project, NEW, OLD)
    ok(project, "materialize", *DAYS)
    latest = project.query(
        "SELECT reused_from IS NOT NULL FROM assetflow.materializations WHERE env = 'prod'"
        " ORDER BY materialization_id DESC LIMIT 6"
    )
    return before, [reused for (reused,) in latest]


def test_reverting_a_promoted_change_computes_nothing(either):
    before, reused = promoted_and_reverted(either)  # the replaced nodes were kept
    assert reused == [True] * 6
    assert rows(either, "main.summary") == before
    assert counts(either)["summary"]["fresh"] == 25


def _prod_state(project) -> tuple:
    with duckdb.connect(str(project.warehouse)) as conn:  # replays what a killed writer left
        tables = tuple(
            conn.execute(f"SELECT count(*), sum(hash(x)) FROM main.{t} x").fetchall()[0]
            for t in ("base", "enriched", "summary")
        )
        nodes = conn.execute(
            "SELECT count(*), sum(hash(asset, partition, v)) FROM (SELECT asset, partition,"
            " arg_max(data_version, materialization_id) AS v FROM assetflow.materializations"
            " WHERE env = 'prod' GROUP BY ALL)"
        ).fetchall()[0]
    return tables, nodes


def killed_promotions(project, tmp_path, trials: int, window: tuple[float, float]):
    """A change built in dev, then `env promote dev` started from that state `trials` times
    and killed (-9) after a random moment in `window` seconds. Yields, after each kill, the
    trial's number; first the states before and after a whole promotion."""
    import random
    import shutil
    import signal
    import subprocess
    import sys
    import time

    ok(project, "env", "create", "dev")
    edit(project, OLD, NEW)
    ok(project, "--env", "dev", "materialize")
    snapshot = tmp_path / "snapshot"
    shutil.copytree(project.root, snapshot)
    before = _prod_state(project)
    ok(project, "env", "promote", "dev")
    yield before, _prod_state(project)
    for trial in range(trials):
        shutil.rmtree(project.root)
        shutil.copytree(snapshot, project.root)
        process = subprocess.Popen(
            [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now", NOW,
             "env", "promote", "dev"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(random.Random(trial).uniform(*window))
        process.send_signal(signal.SIGKILL)
        process.wait()
        yield trial


@pytest.mark.slow  # processes killed at random moments
def test_a_promotion_killed_at_any_moment_leaves_prod_wholly_before_or_after(chain, tmp_path):
    trials = killed_promotions(chain, tmp_path, 6, (0.2, 1.0))
    before, after = next(trials)
    assert before != after
    for trial in trials:
        state = _prod_state(chain)
        assert state in (before, after), f"trial {trial}: production is half promoted"
        counts(chain)  # and the warehouse answers


def test_a_promoted_change_that_adds_a_column_lands_with_it(either):
    """dev's table has a column prod's lacks: the promotion brings the column (on Delta the
    rows are then copied, not linked: the tables' columns differ); prod's other partitions
    read it as NULL until they are built again."""
    ok(either, "env", "create", "dev")
    edit(either, OLD, f"{OLD}, n + 1 AS extra")
    ok(either, "--env", "dev", "materialize", "enriched", *DAYS)
    dev_rows = rows(either, "(SELECT n, day, extra FROM dev.enriched WHERE day BETWEEN 3 AND 5)")
    ok(either, "env", "promote", "dev")
    promoted = "(SELECT n, day, extra FROM main.enriched WHERE day BETWEEN 3 AND 5)"
    assert rows(either, promoted) == dev_rows
    assert rows(either, "(SELECT DISTINCT extra FROM main.enriched WHERE day = 6)") == [(None,)]
    stale = counts(either)["enriched"]["stale"]
    assert stale == 22  # the other days: built by the old code
    ok(either, "materialize", "enriched")
    assert rows(either, "(SELECT count(*) FROM main.enriched WHERE extra IS NULL)") == [(0,)]


NEW_ASSET = """

@asset(partitions=DAYS)
def tripled(ctx, base):
    return "SELECT n, day, product * 3 AS tripled FROM base"
"""


def test_an_asset_new_in_the_branch_is_promoted_into_being(either):
    ok(either, "env", "create", "dev")
    path = either.root / "definitions" / "assets.py"
    path.write_text(path.read_text() + NEW_ASSET)
    ok(either, "--env", "dev", "materialize", "tripled", *DAYS)
    dev_rows = rows(either, "dev.tripled")
    assert len(dev_rows) == sum(day * 10 for day in (3, 4, 5))
    ok(either, "env", "promote", "dev")
    assert rows(either, "main.tripled") == dev_rows
    assert counts(either)["tripled"]["fresh"] == 3
    plan = json.loads(ok(either, "materialize", "--dry-run", "--json", "--nodes", *DAYS))
    assert plan["nodes"] == []
