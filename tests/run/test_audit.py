"""A task's partitions audited together (`run_grouped`: one query per check) find, partition
by partition, exactly what each check finds over that partition's rows alone (`evaluate`),
on random rows — empty partitions, NULLs, duplicates across and within partitions."""

import datetime as dt
from types import SimpleNamespace

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.checks import accepted_values, expression, not_null, row_count, unique
from assetflow.run.audit import evaluate, run_grouped

GROUPED = [
    not_null("kind"),
    unique("id"),
    unique("id", "kind"),
    accepted_values("kind", ["a", "b"]),
    expression("amount > 0"),
    row_count(min=1, max=3),
]
KEYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
ROW = st.tuples(
    st.sampled_from(KEYS[:3]),  # the last partition never has rows
    st.integers(0, 3),
    st.sampled_from(["a", "b", "z", None]),
    st.integers(-2, 3),
)


def test_every_grouped_check_says_how():
    assert all(c.grouped_sql for c in GROUPED)
    assert expression("day = {partition}").grouped_sql is None  # its own key: one by one


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=14))
def test_grouped_checks_find_what_each_partition_alone_finds(rows):
    cur = duckdb.connect()
    cur.execute("CREATE TABLE staged (_partition VARCHAR, id INT, kind VARCHAR, amount INT)")
    if rows:
        cur.executemany("INSERT INTO staged VALUES (?, ?, ?, ?)", rows)
    together = run_grouped(GROUPED, cur, "staged", "_partition", KEYS)
    for key in KEYS:
        cur.execute(
            "CREATE OR REPLACE TEMP VIEW one AS SELECT * EXCLUDE (_partition) FROM staged"
            f" WHERE _partition = '{key}'"
        )
        ctx = SimpleNamespace(partition=key, end=None)
        for check, grouped in zip(GROUPED, together[key], strict=True):
            alone = evaluate(check, cur, "one", ctx, dt.datetime(2024, 2, 1))
            assert (grouped.check, grouped.passed, grouped.failing_rows, grouped.message) == (
                alone.check, alone.passed, alone.failing_rows, alone.message,
            ), (check.name, key)  # fmt: skip
            assert len(grouped.samples) == len(alone.samples)
            if alone.failing_rows <= len(alone.samples):  # every failing row is a sample
                assert sorted(map(repr, grouped.samples)) == sorted(map(repr, alone.samples))
    cur.close()
