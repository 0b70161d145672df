"""A batch places its rows by a partition key computed in SQL: it must be the key the
partitioning itself gives, for every unit and first day of the week (issue 16)."""

import datetime as dt

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.partitions import daily, hourly, minutely, monthly, quarterly, weekly, yearly

KINDS = [
    *[minutely("2000-01-01", every=n) for n in (1, 5, 15, 30)],
    hourly("2000-01-01"),
    daily("2000-01-01"),
    *[weekly("2000-01-01", week_start=d) for d in ("monday", "wednesday", "saturday", "sunday")],
    monthly("2000-01"),
    quarterly("2000-Q1"),
    yearly("2000"),
]


@settings(max_examples=300)
@given(
    parts=st.sampled_from(KINDS),
    moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 12, 31)),
)
def test_the_sql_key_is_the_partitioning_key(parts, moment):
    moment = moment.replace(microsecond=0)
    sql = parts.sql_key(f"TIMESTAMP '{moment.isoformat(sep=' ')}'")
    assert duckdb.sql(f"SELECT {sql}").fetchall()[0][0] == parts.key(parts.index_at(moment))
