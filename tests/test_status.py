"""Status causes on the diamond fixture: code edits, reformatting, failures, clipping."""

import json

import duckdb
from conftest import Project, write_events


def statuses(project: Project, *args: str) -> dict[str, dict[str, list[str]]]:
    result = project.run("status", "--json", *args)
    assert result.exit_code == 0, result.output
    return {
        a["asset"]: {n["partition"]: n["causes"] for n in a["nodes"]}
        for a in json.loads(result.output)["assets"]
        if a["nodes"]
    }


def edit(project: Project, old: str, new: str) -> None:
    path = project.root / "definitions" / "assets.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_new_project_is_all_missing(diamond):
    result = diamond.run("status", "--json")
    counts = {a["asset"]: a["counts"] for a in json.loads(result.output)["assets"]}
    assert counts["doubled"] == {"fresh": 0, "stale": 0, "missing": 10, "failed": 0, "late": 0}
    assert counts["monthly_total"] == {"fresh": 0, "stale": 0, "missing": 1, "failed": 0, "late": 0}
    assert not diamond.warehouse.exists()


def test_editing_a_function_body_makes_it_code_changed_and_downstream_upstream_stale(built_diamond):
    diamond = built_diamond
    edit(diamond, "value * 2 AS value", "value * 3 AS value")
    found = statuses(diamond)
    assert set(found) == {"doubled", "combined", "recent", "monthly_total"}
    assert all(c == ["code_changed"] for c in found["doubled"].values())
    assert len(found["doubled"]) == 10
    assert all(c == ["upstream_stale"] for c in found["combined"].values())
    assert found["monthly_total"] == {"2024-01": ["upstream_stale"]}


def test_reformatting_and_comments_change_nothing(built_diamond):
    diamond = built_diamond
    edit(
        diamond,
        'def doubled(ctx, events):\n    return "SELECT user_id, value * 2 AS value FROM events"',
        "def doubled(ctx,\n            events):  # reformatted\n"
        '    """Docs."""\n    return (  "SELECT user_id, value * 2 AS value FROM events"  )',
    )
    assert statuses(diamond) == {}


def test_a_failed_node_blocks_its_downstream_only(diamond, monkeypatch):
    diamond.write(
        "definitions/picky.py",
        """
        import os
        from assetflow import DataError, asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def picky(ctx, doubled):
            if ctx.partition == os.environ.get("BAD_DAY"):
                raise DataError("bad day")
            return "SELECT * FROM doubled"

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def after(ctx, picky):
            return "SELECT count(*) AS n FROM picky"
        """,
    )
    assert diamond.run("materialize").exit_code == 0
    write_events(diamond, "2024-01-04", [(1, 99)])
    monkeypatch.setenv("BAD_DAY", "2024-01-04")
    assert diamond.run("materialize").exit_code == 1
    found = statuses(diamond)
    assert found["picky"] == {"2024-01-04": ["upstream_changed", "failed"]}
    assert found["after"] == {"2024-01-04": ["upstream_stale"]}
    assert "doubled" not in found and "combined" not in found
    summary = json.loads(diamond.run("status", "--json", "picky").output)["assets"][0]
    assert summary["counts"] == {"fresh": 9, "stale": 0, "missing": 0, "failed": 1, "late": 0}
    monkeypatch.delenv("BAD_DAY")
    assert diamond.run("materialize").exit_code == 0
    assert statuses(diamond) == {}


def test_status_table_shows_compact_ranges_and_cause(built_diamond):
    diamond = built_diamond
    write_events(diamond, "2024-01-05", [(1, 1)])
    result = diamond.run("status")
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if "recent" in line)
    assert "2024-01-05..2024-01-07" in row and "upstream_stale" in row


def test_status_range_and_selection_filter_the_report(diamond):
    found = statuses(diamond, "doubled", "--from", "2024-01-03", "--to", "2024-01-04")
    assert found == {"doubled": {"2024-01-03": ["missing"], "2024-01-04": ["missing"]}}
    covered = json.loads(
        diamond.run(
            "status", "doubled", "--from", "2024-01-03", "--to", "2024-01-04", "--json"
        ).output
    )["range"]  # what the counts cover, said (issue 29 item 14)
    assert covered == {"from": "2024-01-03", "to": "2024-01-04", "now": "2014-06-01T00:00:00+00:00"}
    assert json.loads(diamond.run("status", "--json").output)["range"]["from"] is None


def test_why_a_missing_node_and_a_fresh_node(diamond):
    missing = diamond.run("why", "combined", "2024-01-02")
    assert "combined[2024-01-02] missing" in missing.output
    assert diamond.run("materialize").exit_code == 0
    fresh = diamond.run("why", "combined", "2024-01-02")
    assert "combined[2024-01-02] fresh" in fresh.output and "built in run" in fresh.output


def test_why_says_how_a_source_file_changed(built_diamond):
    """Not 'changed landing/…csv, new' (issue 29 item 17): what is new is its content."""
    diamond = built_diamond
    write_events(diamond, "2024-01-05", [(1, 1)])
    now = diamond.run("why", "doubled", "2024-01-05").output
    assert "its content now differs from what was read" in now and ", new" not in now
    assert diamond.run("observe").exit_code == 0
    later = diamond.run("why", "doubled", "2024-01-05").output
    assert "this content first observed 20" in later


def test_why_json_keeps_state_and_causes_apart(built_diamond):
    """`why --json`: the state and its causes as fields, the label for people beside them
    (issue 29 item 14)."""
    diamond = built_diamond
    write_events(diamond, "2024-01-05", [(1, 1)])
    tree = json.loads(diamond.run("why", "combined", "2024-01-05", "--json").output)
    assert tree["status"] == "stale" and tree["reasons"] == ["upstream_stale"]
    assert tree["label"] == "stale (upstream_stale)"
    [doubled, shifted] = tree["causes"]
    assert (doubled["status"], doubled["reasons"]) == ("stale", ["upstream_changed"])
    assert shifted["subject"] == "shifted[2024-01-05]"


def test_why_rejects_unknown_asset_and_bad_partition(diamond):
    assert diamond.run("why", "nope", "2024-01-01").exit_code == 2
    bad = diamond.run("why", "doubled", "2024-01-32")
    assert bad.exit_code == 2 and "invalid day partition key '2024-01-32'" in bad.output


def test_observe_records_changes_once(diamond):
    first = diamond.run("observe")
    assert first.exit_code == 0 and "10 source partitions seen for the first time" in first.output
    assert "changed" not in first.output
    assert "no source changed" in diamond.run("observe").output
    write_events(diamond, "2024-01-02", [(9, 9)])
    assert "1 source partition changed" in diamond.run("observe").output  # not "partitions"


def test_a_first_observe_after_runs_tells_read_files_from_changed_ones(built_diamond):
    """Files a run read are not 'changed' on the first `observe` (issue 29 item 11)."""
    diamond = built_diamond
    write_events(diamond, "2024-01-03", [(7, 7)])
    first = diamond.run("observe").output
    assert "1 source partition changed" in first and "2024-01-03" in first
    assert "9 source partitions unchanged since a run read them" in first
    assert "first time" not in first


def test_lineage_formats(diamond):
    tree = diamond.run("lineage", "combined")
    assert tree.exit_code == 0 and "events" in tree.output and "recent" in tree.output
    dot = diamond.run("lineage", "recent", "--upstream", "--format", "dot").output
    assert '"combined" -> "recent" [label="window(-2, 0)"];' in dot
    assert '"events" [shape=cylinder' in dot
    mermaid = diamond.run("lineage", "combined", "--downstream", "--format", "mermaid").output
    assert mermaid.startswith("graph LR") and "combined -->|window(0, 0)| monthly_total" in mermaid
    assert "events" not in mermaid


def test_an_all_mapping_goes_stale_when_its_upstream_grows(project, tmp_path):
    """An unpartitioned asset reading an open-ended daily asset sees new days arrive."""
    project.write(
        "definitions/grow.py",
        """
        from assetflow import asset, daily, source

        @source(partitions=daily("2024-01-01"), observe=lambda key: "v1")
        def ticks(ctx):
            return f"SELECT DATE '{ctx.partition}' AS day"

        @asset(partitions=daily("2024-01-01"))
        def days(ctx, ticks):
            return "SELECT day FROM ticks"

        @asset
        def total(ctx, days):
            return "SELECT count(*) AS n FROM days"
        """,
    )
    assert project.run("materialize", now="2024-01-04T00:00:00").exit_code == 0
    assert project.query("SELECT n FROM total") == [(3,)]
    result = project.run("status", "--json", "total", now="2024-01-05T00:00:00")
    nodes = json.loads(result.output)["assets"][0]["nodes"]
    assert nodes == [
        {
            "partition": "__all__",
            "status": "stale",
            "causes": ["upstream_changed", "upstream_stale"],
        }
    ]
    assert project.run("materialize", now="2024-01-05T00:00:00").exit_code == 0
    assert project.query("SELECT n FROM total") == [(4,)]


def test_why_needs_a_partition_for_a_partitioned_asset(diamond):
    result = diamond.run("why", "doubled")
    assert result.exit_code == 2
    assert "doubled is partitioned (daily 2024-01-01..2024-01-10)" in result.output


def test_only_rebuilt_nodes_and_observed_sources_can_change_their_readers(built_diamond):
    """Status compares recorded inputs with rebuilt nodes only; a first build never changes
    what its readers read, a rebuild with new data does, and an input read while missing
    (recorded NULL) counts as changed once it has data."""
    diamond = built_diamond
    rebuilt = diamond.query("SELECT count(*) FROM assetflow.nodes WHERE rebuilt")
    assert rebuilt == [(0,)]
    write_events(diamond, "2024-01-03", [(1, 99)])
    assert diamond.run("materialize", "doubled").exit_code == 0
    assert diamond.query(
        "SELECT asset, partition FROM assetflow.nodes WHERE rebuilt"
    ) == [("doubled", "2024-01-03")]  # fmt: skip
    assert "upstream_changed" in statuses(diamond)["combined"]["2024-01-03"]
    with duckdb.connect(str(diamond.warehouse)) as conn:
        conn.execute(
            "UPDATE assetflow.inputs SET input_version = NULL WHERE materialization_id ="
            " (SELECT materialization_id FROM assetflow.nodes WHERE asset = 'combined'"
            " AND partition = '2024-01-07') AND input = 'shifted'"
        )
    assert statuses(diamond)["combined"]["2024-01-07"] == ["upstream_changed"]
