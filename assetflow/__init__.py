"""assetflow: asset-centric, date-partitioned data pipelines on DuckDB."""

from .alerts import Failure, RunSummary, webhook
from .checks import (
    CheckResult,
    accepted_values,
    check,
    expression,
    freshness,
    not_null,
    row_count,
    unique,
)
from .errors import AssetflowError, DataError
from .partitions import all_partitions, daily, monthly, unpartitioned, window
from .policy import RetryPolicy, project_defaults
from .specs import asset, file_sensor, schedule, source

__all__ = [
    "CheckResult",
    "accepted_values",
    "check",
    "expression",
    "freshness",
    "not_null",
    "row_count",
    "unique",
    "AssetflowError",
    "DataError",
    "Failure",
    "RetryPolicy",
    "RunSummary",
    "project_defaults",
    "webhook",
    "all_partitions",
    "asset",
    "file_sensor",
    "schedule",
    "daily",
    "monthly",
    "source",
    "unpartitioned",
    "window",
]
