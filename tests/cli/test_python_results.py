"""Python assets return what people have, and read inputs as they ask (issue 15)."""

import re

import pytest

UP = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-02")


@asset(partitions=DAYS)
def up(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, range AS n FROM range(4)"
"""

RETURNS = {
    "sql text": "return 'SELECT day, n * 10 AS m FROM up'",
    "relation": "return up.project('day, n * 10 AS m')",
    "arrow table": "return up.project('day, n * 10 AS m').to_arrow_table()",
    "arrow reader": "import pyarrow as pa\n    t = up.project('day, n * 10 AS m').to_arrow_table()\n    return pa.RecordBatchReader.from_batches(t.schema, t.to_batches())",
    "arrow batches": "return iter(up.project('day, n * 10 AS m').to_arrow_table().to_batches(max_chunksize=1))",
    "pandas": "return up.df().assign(m=lambda d: d.n * 10)[['day', 'm']]",
    "polars": "import polars as pl\n    return up.pl().select('day', (pl.col('n') * 10).alias('m'))",
    "polars lazy": "import polars as pl\n    return up.pl().lazy().select('day', (pl.col('n') * 10).alias('m'))",
    "from_df": "return ctx.conn.from_df(up.df().assign(m=lambda d: d.n * 10)[['day', 'm']])",
    "from_arrow": "return ctx.conn.from_arrow(up.project('day, n * 10 AS m').to_arrow_table())",
    "values": "return ctx.conn.values([ctx.start, 0]).project('col0 AS day, col1 AS m')",
}


def _asset_name(kind):
    return "down_" + re.sub(r"\W", "_", kind).lower()


def test_every_kind_of_result_is_written(project):
    downs = "".join(
        f"\n\n@asset(partitions=DAYS)\ndef {_asset_name(kind)}(ctx, up):\n    {body}\n"
        for kind, body in RETURNS.items()
    )
    project.write("definitions/pipeline.py", UP + downs)
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    for kind in RETURNS:
        rows = project.query(
            f"SELECT _partition, count(*), sum(m) FROM {_asset_name(kind)} GROUP BY 1 ORDER BY 1"
        )
        counts, total = (1, 0) if kind == "values" else (4, 60)
        assert rows == [("2024-01-01", counts, total), ("2024-01-02", counts, total)], kind


INPUTS = {
    "pd.DataFrame": ("import pandas as pd", "return up.assign(m=up.n * 10)[['day', 'm']]"),
    "pl.DataFrame": (
        "import polars as pl",
        "return up.select('day', (pl.col('n') * 10).alias('m'))",
    ),
    "pl.LazyFrame": (
        "import polars as pl",
        "return up.select('day', (pl.col('n') * 10).alias('m'))",
    ),
    "pa.Table": (
        "import pyarrow as pa",
        "import pyarrow.compute as pc\n    return up.select(['day']).append_column('m', pc.multiply(up['n'], 10))",
    ),
}


def test_inputs_arrive_as_their_annotation_asks(project):
    imports = "".join(f"{i}\n" for i, _ in INPUTS.values())
    downs = "".join(
        f"\n\n@asset(partitions=DAYS)\ndef {_asset_name(hint)}(ctx, up: {hint}):\n    {body}\n"
        for hint, (_, body) in INPUTS.items()
    )
    project.write("definitions/pipeline.py", UP + imports + downs)
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    for hint in INPUTS:
        assert project.query(f"SELECT sum(m) FROM {_asset_name(hint)}") == [(120,)], hint
        # types survive the round trip: a DATE read into pandas comes back a DATE
        kind = project.query(
            "SELECT data_type FROM information_schema.columns"
            f" WHERE table_name = '{_asset_name(hint)}' AND column_name = 'day'"
        )
        assert kind == [("DATE",)], hint


def test_an_unknown_result_names_what_works(project):
    down = "\n\n@asset(partitions=DAYS)\ndef down(ctx, up):\n    return 42\n"
    project.write("definitions/pipeline.py", UP + down)
    result = project.run("materialize")
    assert result.exit_code == 2
    assert re.search(r"asset down\[2024-01-0[12]\] returned int", result.output)
    assert "a pandas DataFrame or a polars DataFrame/LazyFrame" in result.output


BLOCK_POLARS = """
import importlib.abc, sys

class NoPolars(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "polars" or name.startswith("polars."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPolars())
from assetflow.cli import main
sys.argv = ["assetflow", "--project", sys.argv[1], "--now", "2024-01-03T00:00:00", "materialize"]
main()
"""


@pytest.mark.slow  # a fresh interpreter
def test_a_frame_library_that_is_not_installed_names_the_extra(project):
    import subprocess
    import sys

    down = "\n\n@asset(partitions=DAYS)\ndef down(ctx, up: 'pl.DataFrame'):\n    return up\n"
    project.write("definitions/pipeline.py", UP + down)
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_POLARS, str(project.root)], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "asks for up as a polars frame, but polars is not installed" in done.stdout + done.stderr
    assert "pip install 'assetflow[polars]'" in done.stdout + done.stderr
