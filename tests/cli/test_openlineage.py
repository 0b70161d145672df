"""OpenLineage run events (issue 19): START, COMPLETE, FAIL per node through the
openlineage-python client, to a file and to a real HTTP receiver; they validate against the
client's own models."""

import json

import pytest
from conftest import Receiver, make_project
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    tags_run,
)

PIPELINE = """
import os
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-03")


@asset(partitions=DAYS)
def orders(ctx):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError(f"bad orders on {ctx.partition}")
    return f"SELECT DATE '{ctx.partition}' AS day, 3 AS n"


@asset(partitions=DAYS)
def totals(ctx, orders):
    return "SELECT day, sum(n) AS n FROM orders GROUP BY day"
"""


def _model(event: dict) -> RunEvent:
    """The event rebuilt as the client's models: their validators check ids and times."""
    f = event["run"]["facets"]
    facets = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=f["parent"]["run"]["runId"]),
            job=parent_run.Job(
                namespace=f["parent"]["job"]["namespace"], name=f["parent"]["job"]["name"]
            ),
        ),
        "tags": tags_run.TagsRunFacet(
            tags=[
                tags_run.TagsRunFacetFields(t["key"], t["value"], t["source"])
                for t in f["tags"]["tags"]
            ]
        ),
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=f["nominalTime"]["nominalStartTime"],
            nominalEndTime=f["nominalTime"]["nominalEndTime"],
        ),
    }
    if "errorMessage" in f:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=f["errorMessage"]["message"], programmingLanguage="python"
        )

    def schema(d):
        if "schema" not in d.get("facets", {}):
            return {}
        fields = [schema_dataset.SchemaDatasetFacetFields(name=c["name"], type=c["type"])
                  for c in d["facets"]["schema"]["fields"]]  # fmt: skip
        return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}

    outputs = []
    for d in event["outputs"]:
        stats = d.get("outputFacets", {}).get("outputStatistics")
        extra = (
            {
                "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=stats["rowCount"]
                )
            }
            if stats
            else {}
        )
        outputs.append(
            OutputDataset(
                namespace=d["namespace"], name=d["name"], facets=schema(d), outputFacets=extra
            )
        )
    return RunEvent(
        eventType=RunState[event["eventType"]],
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=facets),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=schema(d))
            for d in event["inputs"]
        ],
        outputs=outputs,
        producer=event["producer"],
    )


def _by_node(events):
    out = {}
    for e in events:
        _model(e)
        tags = {t["key"]: t["value"] for t in e["run"]["facets"]["tags"]["tags"]}
        out.setdefault((e["job"]["name"], tags["partition"]), []).append(e["eventType"])
    return out


def test_a_run_with_a_failure_sends_start_complete_and_fail_to_a_file(tmp_path, monkeypatch):
    config = '[tool.assetflow.openlineage]\ntransport = "file"\npath = "lineage/events.jsonl"\n'
    project = make_project(tmp_path / "p", extra=config)
    monkeypatch.chdir(project.root)
    project.write("definitions/pipeline.py", PIPELINE)
    project.write("fail-2024-01-02", "")
    result = project.run("materialize")
    assert result.exit_code == 1, result.output
    lines = (project.root / "lineage" / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert _by_node(events) == {
        ("orders", "2024-01-01"): ["START", "COMPLETE"],
        ("orders", "2024-01-02"): ["START", "FAIL"],
        ("orders", "2024-01-03"): ["START", "COMPLETE"],
        ("totals", "2024-01-01"): ["START", "COMPLETE"],
        ("totals", "2024-01-03"): ["START", "COMPLETE"],
    }  # totals[2024-01-02] was upstream_failed: it never ran, so it sends nothing
    done = next(
        e for e in events
        if e["job"]["name"] == "totals" and e["eventType"] == "COMPLETE"
        and {"key": "partition", "value": "2024-01-01", "source": "assetflow"}
        in e["run"]["facets"]["tags"]["tags"]
    )  # fmt: skip
    [output] = done["outputs"]
    assert output["name"] == "main.totals"
    assert [c["name"] for c in output["facets"]["schema"]["fields"]] == ["day", "n"]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 1
    [source] = done["inputs"]
    assert (
        source["name"] == "main.orders" and source["facets"]["schema"]["fields"][1]["name"] == "n"
    )
    assert done["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2024-01-01T00:00")
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["n"]["inputFields"] == [
        {
            "namespace": source["namespace"],
            "name": "main.orders",
            "field": "n",
            "transformations": [],
        }
    ]
    failed = next(e for e in events if e["eventType"] == "FAIL")
    assert "bad orders on 2024-01-02" in failed["run"]["facets"]["errorMessage"]["message"]
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 1  # one assetflow run


def test_events_reach_an_http_receiver_and_a_failing_one_is_a_warning(tmp_path, monkeypatch):
    good, bad = Receiver(), Receiver(status=500)
    try:
        for server, name in ((good, "ok"), (bad, "down")):
            config = f'[tool.assetflow.openlineage]\ntransport = "http"\nurl = "{server.base}"\n'
            project = make_project(tmp_path / name, extra=config)
            monkeypatch.chdir(project.root)
            project.write("definitions/pipeline.py", PIPELINE)
            result = project.run("materialize")
            assert result.exit_code == 0, result.output  # a receiver never fails a run
            if server is good:
                assert sorted(_by_node(good.bodies).values()) == [["START", "COMPLETE"]] * 6
            else:
                assert "warning: openlineage:" in result.output
    finally:
        good.close()
        bad.close()


def test_a_bad_openlineage_config_is_one_line(project):
    project.write("definitions/pipeline.py", PIPELINE)
    (project.root / "pyproject.toml").write_text(
        '[tool.assetflow]\n[tool.assetflow.openlineage]\ntransport = "kafka"\n'
    )
    result = project.run("materialize")
    assert result.exit_code == 2
    assert "openlineage.transport" in result.output


@pytest.mark.slow
def test_a_receiver_that_never_answers_does_not_stall_the_run(tmp_path, monkeypatch):
    """docs/operations.md: events go from a background thread, so a receiver that accepts and
    never answers costs the run a warning, not its completion (issue 32 item 7): the nodes are
    all written, the process ends, and the run says which events did not go."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release, arrived = threading.Event(), []

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - accepts, then never answers
            arrived.append(self.path)
            release.wait(60)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        config = f'[tool.assetflow.openlineage]\ntransport = "http"\nurl = "{url}"\n'
        project = make_project(tmp_path / "p", extra=config)
        project.write("definitions/pipeline.py", PIPELINE)
        done = project.process("materialize")  # a real process: it must end by itself
    finally:
        release.set()
        server.shutdown()
    assert arrived, "the receiver was sent events"
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: openlineage:" in done.stdout + done.stderr
    assert project.query("SELECT count(*) FROM assetflow.materializations")[0][0] == 6
