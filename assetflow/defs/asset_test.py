"""`asset_test(...)`: an asset's logic pinned by a few input rows and the rows it must return.

    trailing_week = asset_test(
        "rolling_7d_delays",
        partition="2013-01-07",
        given={"daily_carrier_delays": [{"flight_date": date(2013, 1, 1), ...}, ...]},
        expect=[{"day": date(2013, 1, 7), "carrier": "AA", "flights_7d": 12}],
        key=["day", "carrier"],
    )

Assign it to a module-level name in definitions/, next to the asset (as a schedule is);
`assetflow test` runs it in an in-memory DuckDB (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from assetflow.core.specs import AssetTestSpec, Rows
from assetflow.errors import DefinitionError


def asset_test(
    asset: str,
    *,
    given: Mapping[str, Iterable[Mapping[str, Any]] | str],
    expect: Iterable[Mapping[str, Any]] | str,
    partition: str | None = None,
    key: Iterable[str] = (),
    name: str | None = None,
    now: str | dt.datetime | None = None,
) -> AssetTestSpec:
    """Declare a test of `asset` for `partition` (a key, or `first..last`; none for an
    unpartitioned asset): its inputs read exactly the rows `given` (a list of dicts, or a CSV
    file's path relative to the project), and its output must hold exactly the rows `expect`
    (in the columns `expect` names). With `key`, a row found on both sides by its key whose
    other columns differ is reported as changed, column by column. Its name is `name`, else
    the module-level name it is assigned to."""
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    label = name or ""  # none: the name it is assigned to (definitions/loader.py)
    if isinstance(now, str):
        try:
            now = dt.datetime.fromisoformat(now)
        except ValueError:
            raise DefinitionError(
                f"{where}: asset_test of {asset}: now={now!r} is not an ISO 8601 time"
            ) from None
    return AssetTestSpec(
        name=label,
        asset=asset,
        partition=partition,
        given=tuple((input_name, _rows(rows, where, asset)) for input_name, rows in given.items()),
        expect=_rows(expect, where, asset),
        key=tuple(key),
        now=now,
        where=where,
    )


def _rows(rows: Iterable[Mapping[str, Any]] | str, where: str, asset: str) -> Rows:
    if isinstance(rows, str):
        return rows
    try:
        return tuple(dict(r) for r in rows)
    except (TypeError, ValueError):
        raise DefinitionError(
            f"{where}: asset_test of {asset}: rows must be dicts, or a CSV file's path"
        ) from None
