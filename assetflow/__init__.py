"""assetflow: asset-centric, date-partitioned data pipelines on DuckDB.

The public API is imported on first use (PEP 562), so that `assetflow --help` does not pay
for DuckDB, pydantic and networkx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AssetflowError": "errors",
    "DataError": "errors",
    "CheckResult": "checks",
    "accepted_values": "checks",
    "check": "checks",
    "expression": "checks",
    "freshness": "checks",
    "not_null": "checks",
    "row_count": "checks",
    "unique": "checks",
    "Failure": "alerts",
    "RunSummary": "alerts",
    "webhook": "alerts",
    "RetryPolicy": "policy",
    "project_defaults": "policy",
    "all_partitions": "partitions",
    "daily": "partitions",
    "monthly": "partitions",
    "unpartitioned": "partitions",
    "window": "partitions",
    "asset": "specs",
    "file_sensor": "specs",
    "schedule": "specs",
    "source": "specs",
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
