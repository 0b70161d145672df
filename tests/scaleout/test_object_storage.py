"""Delta tables on object storage for real: an S3 server (moto's, started here on
127.0.0.1) holds the tables; runs commit to it, and the coordinator's reads — status (the
tables' columns), `sql`, `check`, the Python API's `read` — answer from it without DuckDB's
httpfs (issue 28 item 4)."""

import json

import pytest
from conftest import make_project

pytest.importorskip("deltalake")
pytest.importorskip("moto.server")

PIPELINE = """
from assetflow import asset, daily, expression

DAYS = daily("2024-01-01", "2024-01-05")


@asset(partitions=DAYS)
def events(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, range AS n FROM range(VALUE)"


@asset(partitions=DAYS, checks=[expression("events >= 0")])
def daily_count(ctx, events):
    return "SELECT min(day) AS day, count(*) AS events FROM events"
"""


@pytest.fixture(scope="module")
def s3():
    """An S3 endpoint on 127.0.0.1 with a bucket `lake`; its URL. The server is a process of
    its own: deltalake's calls from this process must not wait on this process's GIL."""
    import socket
    import subprocess
    import sys
    import time

    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    try:
        for _ in range(100):  # up within a few seconds
            try:
                client.create_bucket(Bucket="lake")
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def on_s3(tmp_path, url: str, prefix: str):
    settings = (
        f'storage = "delta"\nstorage_path = "s3://lake/{prefix}"\n'
        "[tool.assetflow.storage_options]\n"
        f'AWS_ENDPOINT_URL = "{url}"\nAWS_REGION = "us-east-1"\nAWS_ALLOW_HTTP = "true"\n'
        'AWS_ACCESS_KEY_ID = "test"\nAWS_SECRET_ACCESS_KEY = "test"\n'
        'conditional_put = "etag"\n'
    )
    return make_project(tmp_path / prefix, extra=settings)


def statuses(project) -> dict[str, dict]:
    report = json.loads(project.run("status", "--json").output)
    return {a["asset"]: a["counts"] for a in report["assets"]}


@pytest.mark.slow
def test_a_project_on_s3_runs_reads_and_checks_its_tables(tmp_path, s3):
    project = on_s3(tmp_path, s3, "shop")
    project.write("definitions/pipeline.py", PIPELINE.replace("VALUE", "3"))
    done = project.run("materialize")
    assert done.exit_code == 0, done.output
    assert not (project.root / "lake").exists()  # nothing local but the warehouse
    assert statuses(project)["daily_count"]["fresh"] == 5
    assert project.run("materialize").output.startswith("nothing to do")

    counted = project.run("sql", "SELECT sum(events) AS total FROM daily_count", "--csv")
    assert counted.exit_code == 0 and counted.output.splitlines() == ["total", "15"]
    checked = project.run("check", "daily_count", "--partition", "2024-01-02")
    assert checked.exit_code == 0, checked.output

    from conftest import NOW_DT

    from assetflow import Pipeline

    rows = Pipeline(project.root, now=NOW_DT).read("events", "2024-01-03").arrow()
    assert rows.num_rows == 3

    # A change of code rebuilds, and status sees the table's new column on S3.
    project.write(
        "definitions/pipeline.py",
        PIPELINE.replace("range AS n", "range AS n, 1 AS x").replace("VALUE", "3"),
    )
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)
    assert {n["asset"] for n in plan["nodes"]} == {"events", "daily_count"}
    assert project.run("materialize").exit_code == 0
    assert statuses(project)["events"]["fresh"] == 5
    shape = project.run("sql", "SELECT count(*) AS with_x FROM events WHERE x = 1", "--csv")
    assert shape.output.splitlines() == ["with_x", "15"]
    # A wipe's commit on S3: the view reads the table as of it.
    assert project.run("wipe", "events", "--partition", "2024-01-05", "--yes").exit_code == 0
    left = project.run("sql", "SELECT count(*) AS n FROM main.events", "--csv")
    assert left.output.splitlines() == ["n", "12"], left.output


def ok(project, *args: str) -> str:
    done = project.run(*args)
    assert done.exit_code == 0, f"{args}: {done.output}"
    return done.output


def table_rows(project, table: str, env: str = "prod") -> list[str]:
    """A table's rows as `sql` reads them (the bucket's files: a plain DuckDB cannot)."""
    return ok(
        project, "--env", env, "sql", f"SELECT * FROM {table} ORDER BY ALL", "--csv"
    ).splitlines()


@pytest.mark.slow
def test_an_environment_on_s3_builds_diffs_and_promotes_beside_prod(tmp_path, s3):
    """Issue 31 item 9 on object storage: the environment's own tables live under
    `_env_NAME/` in the bucket, its views read them through each session's registration."""
    import boto3

    project = on_s3(tmp_path, s3, "envs")
    project.write("definitions/pipeline.py", PIPELINE.replace("VALUE", "3"))
    ok(project, "materialize")
    prod = table_rows(project, "main.events")
    ok(project, "env", "create", "dev")
    made = json.loads(ok(project, "--env", "dev", "status", "--json"))
    assert {a["asset"]: a["counts"] for a in made["assets"]} == statuses(project)

    project.write("definitions/pipeline.py", PIPELINE.replace("VALUE", "4"))  # a row more a day
    days = ("--from", "2024-01-02", "--to", "2024-01-03")
    ok(project, "--env", "dev", "materialize", "events", *days)
    client = boto3.client(
        "s3", endpoint_url=s3, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    listed = client.list_objects_v2(Bucket="lake", Prefix="envs/_env_dev/events/_delta_log/")
    assert listed.get("KeyCount", 0) > 0  # dev's own table, in the bucket
    assert table_rows(project, "main.events") == prod  # prod's untouched
    per_day = "SELECT day, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
    assert ok(project, "--env", "dev", "sql", per_day, "--csv").splitlines()[1:] == [
        "2024-01-01,3", "2024-01-02,4", "2024-01-03,4", "2024-01-04,3", "2024-01-05,3",
    ]  # fmt: skip
    found = json.loads(ok(project, "--env", "dev", "status", "--json"))
    counts = {a["asset"]: a["counts"] for a in found["assets"]}
    assert (counts["events"]["fresh"], counts["events"]["stale"]) == (2, 3)  # the new code's
    assert counts["daily_count"]["stale"] >= 2  # below dev's new events
    (diff,) = json.loads(ok(project, "env", "diff", "dev", "--json"))
    assert (diff["asset"], diff["partitions"], diff["added"], diff["removed"]) == (
        "events", ["2024-01-02", "2024-01-03"], 2, 0,
    )  # fmt: skip

    ok(project, "--env", "dev", "materialize")  # the rest of the change, read from dev
    assert table_rows(project, "main.events") == prod
    ok(project, "env", "promote", "dev")
    total = ok(project, "sql", "SELECT sum(events) AS total FROM daily_count", "--csv")
    assert total.splitlines() == ["total", "20"]  # 4 events a day, as dev built them
    for table in ("events", "daily_count"):  # dev's files, copied by the store, not read
        listed = client.list_objects_v2(Bucket="lake", Prefix=f"envs/{table}/promoted-")
        assert listed.get("KeyCount", 0) > 0, table
    assert json.loads(ok(project, "materialize", "--dry-run", "--json", "--nodes"))["nodes"] == []
    # The change reverted in a new environment reuses the rows the promotion replaced (read
    # from the table's version before it, in the bucket): nothing computed.
    project.write("definitions/pipeline.py", PIPELINE.replace("VALUE", "3"))
    ok(project, "env", "create", "back")
    ok(project, "--env", "back", "materialize")
    built = project.query(
        "SELECT count(*) FILTER (reused_from IS NULL), count(*) FROM assetflow.materializations"
        " WHERE env = 'back' AND data_version IS NOT NULL"
    )
    assert built == [(0, 10)]
    assert table_rows(project, "events", "back") == prod
    ok(project, "env", "drop", "dev")
    gone = client.list_objects_v2(Bucket="lake", Prefix="envs/_env_dev/")
    assert gone.get("KeyCount", 0) == 0  # every object of dev's tables removed
    assert ok(project, "sql", "SELECT sum(events) AS t FROM daily_count", "--csv") == "t\n20\n"
    ok(project, "env", "create", "dev")  # made anew: prod's rows, nothing of the old dev
    assert table_rows(project, "events", "dev") == table_rows(project, "main.events")
