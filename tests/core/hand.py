"""Hand-built definitions and lineage facts for unit tests of the core: no files, no DuckDB.

A small daily pipeline over ten days of January 2024:

    events (source) -> raw -> daily -> rolling (window -2..0)
                                   \\-> monthly (a month reads its days)
"""

from __future__ import annotations

import datetime as dt

from assetflow.core.definitions import validate
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import Mapping, window
from assetflow.core.partitions import Partitions, daily, monthly
from assetflow.core.records import Facts
from assetflow.core.specs import AssetSpec, Dep, SourceSpec

DAYS = daily("2024-01-01", "2024-01-10")
MONTHS = monthly("2024-01", "2024-01")
NOW = dt.datetime(2024, 6, 1)
FIRST = DAYS.first_index()  # the index of 2024-01-01


def spec(name: str, partitions: Partitions, *deps: tuple[str, Mapping], **kw) -> AssetSpec:
    return AssetSpec(
        name=name,
        fn=lambda: None,
        partitions=partitions,
        deps=tuple(Dep(d, m, True) for d, m in deps),
        code_version=f"{name}-v1",
        file="hand.py",
        line=1,
        **kw,
    )


def graph(**overrides) -> AssetGraph:
    """The pipeline; keyword arguments replace an asset's spec."""
    source = SourceSpec("events", lambda ctx: "", DAYS, None, lambda key: "v1", "hand.py", 1)
    assets = {
        "raw": spec("raw", DAYS, ("events", window())),
        "daily": spec("daily", DAYS, ("raw", window())),
        "rolling": spec("rolling", DAYS, ("daily", window(-2, 0))),
        "monthly": spec("monthly", MONTHS, ("daily", window())),
    }
    assets.update(overrides)
    return AssetGraph(validate([source, *assets.values()]))


def day(n: int) -> int:
    """The index of 2024-01-n."""
    return FIRST + n - 1


def days(a: int, b: int) -> Intervals:
    return Intervals.span(day(a), day(b))


def facts(**by_kind: dict[str, Intervals]) -> Facts:
    """Every node of the pipeline materialized, unless `existing=` says otherwise; other
    keyword arguments (code_changed=, upstream_changed=, failed=, check_failed=) add causes."""
    month = MONTHS.first_index()
    everything = {
        "raw": days(1, 10),
        "daily": days(1, 10),
        "rolling": days(1, 10),
        "monthly": Intervals.span(month, month),
    }
    return Facts(
        existing=by_kind.get("existing", everything),
        code_changed=by_kind.get("code_changed", {}),
        schema_changed=by_kind.get("schema_changed", {}),
        upstream_changed=by_kind.get("upstream_changed", {}),
        failed=by_kind.get("failed", {}),
        check_failed=by_kind.get("check_failed", {}),
        recorded_ranges={},
    )
