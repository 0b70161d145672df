"""The Python API (issue 15) against a warehouse other processes run on: it never holds the
file between calls, and during a run it says so or answers from the run's snapshot."""

import datetime as dt
import json

import pytest
from conftest import FIXTURES, NOW, make_project
from test_crash import finish, start, wait_for_run

import assetflow

pytestmark = pytest.mark.slow  # real subprocesses

AT = dt.datetime.fromisoformat(NOW)


def test_a_pipeline_between_calls_does_not_hold_the_warehouse(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    p = assetflow.Pipeline(project.root, now=AT)
    done = p.materialize("base")
    assert done.status == "success"
    counts = done.counts()  # named (issue 29 item 14), and they add up
    assert counts.materialized == counts.planned > 0 and counts.failed == counts.not_run == 0
    rows = p.read("base")
    assert len(rows) == project.query("SELECT count(*) FROM base")[0][0] > 0
    # The notebook still has `p`; a run in another process gets the file at once.
    code, out, err = finish(project, "materialize")
    assert code == 0, out + err
    assert {r.trigger for r in p.runs()} == {"api", "manual"}


def test_during_a_run_the_reads_answer_through_it_and_status_names_the_run(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    assert finish(project, "materialize", "base")[0] == 0
    run = start(project, "materialize", "--concurrency", "1", slow="0.2")
    try:
        wait_for_run(project)
        p = assetflow.Pipeline(project.root, now=AT)
        assert len(p.read("base")) == project_rows(25)  # as of the run's last commit
        status = p.status()
        assert status["in_progress"]["run_id"]
        code, out, _ = finish(project, "status", "--json")  # the CLI gives the run one shape
        cli_run = json.loads(out)["in_progress"]
        assert code == 0 and cli_run["run_id"] == status["in_progress"]["run_id"]
        assert set(cli_run) == set(status["in_progress"]) == {
            "run_id", "pid", "started_at", "as_of", "planned", "progress",
        }  # fmt: skip
        assert {a["asset"] for a in status["assets"]} == {"base", "enriched", "summary"}
    finally:
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err


def project_rows(days: int) -> int:
    """Rows of `base` over the chain fixture's first `days` days (day d has 10 * d)."""
    return sum(10 * d for d in range(1, days + 1))


def test_the_api_reads_names_and_lists_with_the_clis_one_line_errors(tmp_path):
    """`read` of a reversed or an outside range is one clear error; `assets()`,
    `partition_keys()`, `add/remove_partition_keys()` and `Rows.pl()` do what they say."""
    from assetflow.errors import PartitionKeyError, SelectionError

    project = make_project(tmp_path / "p", FIXTURES / "chain")
    p = assetflow.Pipeline(project.root, now=AT)
    assert p.materialize("base").status == "success"
    with pytest.raises(PartitionKeyError, match="end 2024-02-01 is before start 2024-02-03"):
        p.read("base", start="2024-02-03", end="2024-02-01")
    with pytest.raises(SelectionError, match="no partitions of base between 2099-01-01"):
        p.read("base", "2099-01-01")
    assert "base" in [a.asset for a in p.assets()]
    day = p.read("base").arrow().column("_partition")[0].as_py()
    assert p.read("base", day).pl().height == len(p.read("base", day)) > 0

    keyed = make_project(tmp_path / "k")
    keyed.write(
        "definitions/k.py",
        "from assetflow import asset, dynamic\n\n@asset(partitions=dynamic('customers'))\n"
        "def per_customer(ctx):\n    return f\"SELECT '{ctx.partition}' AS c\"\n",
    )
    k = assetflow.Pipeline(keyed.root, now=AT)
    assert k.add_partition_keys("customers", "acme", "bolt") == ["acme", "bolt"]
    assert k.remove_partition_keys("customers", "acme", "zed") == ["acme"]
    assert k.partition_keys() == {"customers": ["bolt"]}
    assert k.materialize().status == "success"
    assert k.read("per_customer", "bolt").arrow().column("c").to_pylist() == ["bolt"]
