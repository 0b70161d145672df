"""assetflow: asset-centric, date-partitioned data pipelines on DuckDB."""

from .errors import AssetflowError, DataError
from .partitions import all_partitions, daily, monthly, unpartitioned, window
from .specs import asset, source

__all__ = [
    "AssetflowError",
    "DataError",
    "all_partitions",
    "asset",
    "daily",
    "monthly",
    "source",
    "unpartitioned",
    "window",
]
