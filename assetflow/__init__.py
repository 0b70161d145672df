"""assetflow: asset-centric, date-partitioned data pipelines on DuckDB.

The public API is imported on first use (PEP 562), so that `assetflow --help` does not pay
for DuckDB, pydantic and networkx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "resource": "defs.resources",
    "secret": "defs.resources",
    "AssetflowError": "errors",
    "DataError": "errors",
    "CheckResult": "core.records",
    "accepted_values": "core.checks",
    "check": "core.checks",
    "expression": "core.checks",
    "freshness": "core.checks",
    "not_null": "core.checks",
    "row_count": "core.checks",
    "unique": "core.checks",
    "Failure": "core.alerts",
    "RunSummary": "core.alerts",
    "webhook": "run.alerts",
    "RetryPolicy": "core.policy",
    "project_defaults": "core.policy",
    "all_partitions": "core.mapping_kinds",
    "daily": "core.partitions",
    "hourly": "core.partitions",
    "minutely": "core.partitions",
    "weekly": "core.partitions",
    "monthly": "core.partitions",
    "quarterly": "core.partitions",
    "yearly": "core.partitions",
    "static": "core.partitions",
    "dynamic": "core.partitions",
    "multi": "core.partitions",
    "dims": "core.mapping_kinds",
    "key_map": "core.mapping_kinds",
    "unpartitioned": "core.partitions",
    "window": "core.mapping_kinds",
    "Pipeline": "pipeline",
    "asset": "defs.declare",
    "asset_test": "defs.asset_test",
    "file_sensor": "defs.declare",
    "key_sensor": "defs.declare",
    "schedule": "defs.declare",
    "source": "defs.declare",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assetflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
