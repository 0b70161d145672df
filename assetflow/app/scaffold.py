"""`assetflow init`: a new project that materializes at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from assetflow.errors import UsageError

PYPROJECT = """\
[tool.assetflow]
definitions = "definitions"
warehouse = "warehouse/warehouse.duckdb"
"""

DEFINITIONS = '''\
"""Your first assets: replace the SQL with your own, or return a pyarrow.Table from Python."""

import datetime as dt

from assetflow import asset, asset_test, daily, not_null, unique

# One partition per day from {start}; with no end, up to yesterday.
DAYS = daily(start="{start}")


@asset(partitions=DAYS)
def events(ctx):
    """Ten synthetic events per day."""
    return f"SELECT DATE '{{ctx.partition}}' AS day, range AS event_id FROM range(10)"


@asset(partitions=DAYS, checks=[not_null("day"), unique("day")])
def daily_summary(ctx, events):
    """How many events each day had."""
    return "SELECT day, count(*) AS events FROM events GROUP BY day"


# daily_summary's logic pinned by two input rows: `assetflow test` (docs/testing.md).
FIRST_DAY = dt.date.fromisoformat("{start}")
counts_a_days_events = asset_test(
    "daily_summary",
    partition="{start}",
    given={{"events": [{{"day": FIRST_DAY, "event_id": 1}}, {{"day": FIRST_DAY, "event_id": 2}}]}},
    expect=[{{"day": FIRST_DAY, "events": 2}}],
)
'''

GITIGNORE = "warehouse/*\n!warehouse/.gitkeep\n"


def init_project(folder: Path, today: dt.date) -> list[Path]:
    """Write the scaffold into `folder`; refuse to overwrite an existing project."""
    folder.mkdir(parents=True, exist_ok=True)
    pyproject = folder / "pyproject.toml"
    if pyproject.exists() and "[tool.assetflow]" in pyproject.read_text(encoding="utf-8"):
        raise UsageError(f"{pyproject} already configures an assetflow project")
    definitions = folder / "definitions"
    if definitions.exists() and any(definitions.iterdir()):
        raise UsageError(f"{definitions} already exists and is not empty")
    written = []
    if pyproject.exists():  # an existing Python project: add our table to it
        pyproject.write_text(
            pyproject.read_text(encoding="utf-8").rstrip() + "\n\n" + PYPROJECT, encoding="utf-8"
        )
    else:
        pyproject.write_text(PYPROJECT, encoding="utf-8")
    written.append(pyproject)
    definitions.mkdir(exist_ok=True)
    start = today - dt.timedelta(days=7)
    assets = definitions / "assets.py"
    assets.write_text(DEFINITIONS.format(start=start.isoformat()), encoding="utf-8")
    written.append(assets)
    (folder / "warehouse").mkdir(exist_ok=True)
    (folder / "warehouse" / ".gitkeep").touch()
    gitignore = folder / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")
        written.append(gitignore)
    return written
