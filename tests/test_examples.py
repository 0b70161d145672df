"""The production patterns in docs/examples run end to end: a fixed clock, a real local HTTP
server as the orders API and as the alert webhook, the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, Project, Receiver

pytestmark = pytest.mark.slow  # the documented examples end to end

EXAMPLES = REPO / "docs" / "examples"
CUSTOMERS = ("ada", "grace", "linus")


def example(tmp_path: Path, name: str) -> Project:
    root = tmp_path / name
    shutil.copytree(
        EXAMPLES / name, root, ignore=shutil.ignore_patterns("warehouse", "__pycache__")
    )
    return Project(root)


def orders(day: str) -> list[dict]:
    """A deterministic day of orders: a few per customer."""
    n = int(day[-2:])
    return [
        {"order_id": n * 100 + i, "customer": CUSTOMERS[i % 3], "amount": 10.0 * (i + 1)}
        for i in range(n % 4 + 3)
    ]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch):
    """The orders API and the alert webhook, on one loopback server; `down` holds
    (path, day) pairs that answer 503."""
    server = Receiver()
    server.down = set()

    def serve(path: str, query: dict) -> tuple[int, object]:
        day = query.get("date", "")
        if (path, day) in server.down:
            return 503, {"error": "maintenance"}
        return 200, orders(day) if path == "/orders" else [{"user_id": 1, "name": "ada"}]

    server.serve = serve
    monkeypatch.setenv("ORDERS_API_URL", server.base)
    monkeypatch.setenv("USERS_API_URL", server.base)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", server.url)
    yield server
    server.close()


def tick(project: Project, now: str, exit_code: int = 0) -> list[dict]:
    result = project.run("tick", "--json", now=now)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.output)


def partitions(project: Project, asset: str) -> list[str]:
    rows = project.query(
        "SELECT DISTINCT partition FROM assetflow.materializations WHERE asset = ? ORDER BY 1",
        [asset],
    )
    return [r[0] for r in rows]


def attempts(project: Project, asset: str, partition: str) -> list[tuple]:
    return project.query(
        "SELECT attempt, status, ended_at, next_retry_at FROM assetflow.attempts"
        " WHERE asset = ? AND partition = ? ORDER BY ended_at, attempt",
        [asset, partition],
    )


def alerts(api: Receiver, event: str) -> list[dict]:
    return [b for b in api.bodies if b["event"] == event]


def test_daily_pipeline_at_three_with_retries_alerts_slas_and_no_catchup(tmp_path, api):
    project = example(tmp_path, "daily_orders")

    tick(project, "2024-01-02T03:00:00")  # the 03:00 tick builds the day that ended
    assert partitions(project, "transform_orders") == ["2024-01-01"]
    revenue = project.query("SELECT sum(revenue) FROM transform_orders")[0][0]
    assert revenue == sum(o["amount"] for o in orders("2024-01-01"))

    # Paused for four days: catchup is off, so only the latest day runs.
    events = tick(project, "2024-01-06T03:00:00")
    assert partitions(project, "ingest_orders") == ["2024-01-01", "2024-01-05"]
    assert [e["kind"] for e in events].count("schedule") == 1
    # ...and the skipped days are late: one SLA alert per late node.
    late = sorted(b["text"] for b in alerts(api, "SlaMiss"))
    assert late == sorted(
        f"{asset}[2024-01-0{d}] missed its SLA: not fresh by 2024-01-0{d + 1} {hh}:00 UTC"
        " (status missing)"
        for asset, hh in (("ingest_orders", "04"), ("transform_orders", "05"))
        for d in (2, 3, 4)
    )

    # The API is down for 2024-01-06: four attempts, 5, 10 and 20 minutes apart, one alert.
    api.down.add(("/orders", "2024-01-06"))
    api.bodies.clear()
    tick(project, "2024-01-07T03:00:00", exit_code=1)  # a run failed: cron sees exit 1
    tries = attempts(project, "ingest_orders", "2024-01-06")
    assert [(a, s) for a, s, *_ in tries] == [
        (1, "retrying"), (2, "retrying"), (3, "retrying"), (4, "failed"),
    ]  # fmt: skip
    waits = [(next_at - ended).total_seconds() for _, _, ended, next_at in tries[:3]]
    assert waits == [300.0, 600.0, 1200.0]
    assert sum("date=2024-01-06" in g for g in api.gets) == 4
    [failure] = alerts(api, "Failure")
    run_id = project.query("SELECT run_id FROM assetflow.runs ORDER BY started_at DESC")[0][0]
    fields = failure["fields"]
    assert {k: fields[k] for k in ("pipeline", "asset", "logical_date", "attempts", "run_id")} == {
        "pipeline": "daily_orders", "asset": "ingest_orders", "logical_date": "2024-01-06",
        "attempts": 4, "run_id": run_id,
    }  # fmt: skip
    assert fields["error"] == "HTTPError: HTTP Error 503: Service Unavailable"
    assert "HTTP Error 503" in Path(fields["log_path"]).read_text()
    assert failure["text"].startswith(
        "[daily_orders] ingest_orders[2024-01-06] for 2024-01-06 failed after 4 attempts"
    )
    assert attempts(project, "transform_orders", "2024-01-06")[0][1] == "upstream_failed"

    # SLAs count from the 03:00 tick: ingest by 04:00, transform by 05:00; each alerts once.
    tick(project, "2024-01-07T03:59:00")
    assert alerts(api, "SlaMiss") == []
    tick(project, "2024-01-07T04:30:00")
    tick(project, "2024-01-07T05:30:00")
    tick(project, "2024-01-07T06:30:00")
    assert [b["fields"]["asset"] for b in alerts(api, "SlaMiss")] == [
        "ingest_orders",
        "transform_orders",
    ]
    assert alerts(api, "SlaMiss")[0]["fields"]["deadline"] == "2024-01-07 04:00:00"


def land(project: Project, day: str, rows: list[tuple]) -> None:
    lines = ["order_id,customer,amount", *(",".join(map(str, r)) for r in rows)]
    project.write(f"landing/orders/{day}.csv", "\n".join(lines) + "\n")


def test_orders_group_alerts_once_per_failed_run_with_run_id_and_error(tmp_path, api):
    project = example(tmp_path, "orders_group")
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        land(project, day, [(1, " Ada", "12.5"), (2, "grace", "7")])
    args = ("materialize", "group:orders", "--from", "2024-01-01", "--to", "2024-01-03")
    first = project.run(*args, now="2024-01-04T06:00:00")
    assert first.exit_code == 0, first.output
    assert partitions(project, "fct_orders") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert partitions(project, "marketing_spend") == []  # not in the group
    assert api.bodies == []  # a successful run alerts nobody

    land(project, "2024-01-02", [(1, "ada", "n/a")])
    land(project, "2024-01-03", [(1, "ada", "3"), (2, "ada", "4")])
    second = project.run(*args, now="2024-01-04T07:00:00")
    assert second.exit_code == 1
    run_id = project.query("SELECT run_id FROM assetflow.runs ORDER BY started_at DESC")[0][0]
    [alert] = api.bodies
    assert alert["event"] == "RunSummary"
    fields = alert["fields"]
    assert (fields["pipeline"], fields["run_id"], fields["status"]) == (
        "orders_group", run_id, "partial",
    )  # fmt: skip
    assert (fields["materialized"], fields["failed"], fields["not_run"]) == (2, 1, 1)
    [error] = fields["errors"]
    assert error.startswith("stg_orders[2024-01-02]: DataError:") and "'n/a'" in error
    assert alert["text"].startswith(f"[orders_group] run {run_id} partial:")
    # The bad day was never retried and its previous good rows stay.
    assert [a[1] for a in attempts(project, "stg_orders", "2024-01-02")][-1:] == ["failed"]
    assert project.query(
        "SELECT count(*) FROM stg_orders WHERE _partition = '2024-01-02'"
    ) == [(2,)]  # fmt: skip
    assert attempts(project, "fct_orders", "2024-01-02")[-1][1] == "upstream_failed"


def test_one_flaky_asset_retries_alone_on_its_own_policy(tmp_path, api, monkeypatch):
    project = example(tmp_path, "retries")
    monkeypatch.setenv("RATES_API_URL", api.base)
    rate_calls: dict[str, int] = {}
    orders_api = api.serve

    def serve(path: str, query: dict) -> tuple[int, object]:
        if path == "/rates":
            day = query["date"]
            rate_calls[day] = rate_calls.get(day, 0) + 1
            if rate_calls[day] <= 2:  # flaky: the first two calls of each day fail
                return 502, {"error": "bad gateway"}
            return 200, [{"usd_eur": 0.9}]
        return orders_api(path, query)

    api.serve = serve
    result = project.run("materialize", "--partition", "2024-01-01", now="2024-01-02T06:00:00")
    assert result.exit_code == 0, result.output
    fx = attempts(project, "fx_rates", "2024-01-01")
    assert [s for _, s, *_ in fx] == ["retrying", "retrying", "success"]
    assert [(n - e).total_seconds() for _, _, e, n in fx[:2]] == [60.0, 120.0]
    assert [s for _, s, *_ in attempts(project, "ingest_orders", "2024-01-01")] == ["success"]
    assert [s for _, s, *_ in attempts(project, "revenue_eur", "2024-01-01")] == ["success"]
    assert api.bodies == []  # it succeeded in the end: no alert

    api.down.add(
        ("/orders", "2024-01-02")
    )  # the orders API fails for a day: the pipeline-level policy
    result = project.run("materialize", "--partition", "2024-01-02", now="2024-01-03T06:00:00")
    assert result.exit_code == 1
    orders_tries = attempts(project, "ingest_orders", "2024-01-02")
    assert [s for _, s, *_ in orders_tries] == ["retrying", "retrying", "failed"]
    assert [(n - e).total_seconds() for _, _, e, n in orders_tries[:2]] == [300.0, 300.0]
    [alert] = api.bodies
    assert (alert["fields"]["asset"], alert["fields"]["attempts"]) == ("ingest_orders", 3)
    assert attempts(project, "revenue_eur", "2024-01-02")[0][1] == "upstream_failed"


def test_a_failed_ingest_blocks_only_its_downstream(tmp_path, api, monkeypatch):
    project = example(tmp_path, "failure_propagation")
    notified = Receiver()
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", notified.url)
    try:
        api.down.add(("/orders", "2024-01-01"))
        result = project.run("materialize", "--partition", "2024-01-01", now="2024-01-02T06:00")
        assert result.exit_code == 1
        run_id = project.query("SELECT run_id FROM assetflow.runs")[0][0]
        shown = json.loads(project.run("runs", "show", run_id, "--json").output)
        final = {a["asset"]: a["status"] for a in shown["attempts"]}
        assert final == {
            "ingest_orders": "failed",
            "ingest_users": "success",
            "stg_orders": "upstream_failed",
            "stg_users": "success",
            "fct_orders": "upstream_failed",
            "notify": "upstream_failed",
        }
        assert shown["run"]["status"] == "partial"
        assert notified.bodies == []  # notify never ran

        api.down.clear()
        again = project.run("materialize", "--partition", "2024-01-01", now="2024-01-02T07:00")
        assert again.exit_code == 0, again.output
        rebuilt = project.query(
            "SELECT asset FROM assetflow.attempts WHERE run_id <> ? ORDER BY asset", [run_id]
        )
        assert [r[0] for r in rebuilt] == ["fct_orders", "ingest_orders", "notify", "stg_orders"]
        assert [b["text"] for b in notified.bodies] == [
            f"orders for 2024-01-01 are ready: revenue {sum(o['amount'] for o in orders('2024-01-01')):.2f}"
        ]
    finally:
        notified.close()
