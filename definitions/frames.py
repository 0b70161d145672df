"""The same data through pandas and polars: Python assets that take their input as a
DataFrame (by the parameter's annotation) and return one. Needs the pandas and polars
extras (`pip install -e '.[pandas,polars]'`).

The libraries are imported where the assets run, not when the definitions load: a command
that runs neither asset (status, a no-op) does not pay for importing them. The annotations
are read as text, so `pd.DataFrame` needs no import at load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assetflow import asset

from .flights import BATCH
from .landing import YEAR_2013

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


@asset(
    partitions=YEAR_2013,
    batch_size=BATCH,
    partition_by="flight_date",
    columns={
        "flight_date": "DATE NOT NULL",
        "origin": "VARCHAR NOT NULL",
        "dest": "VARCHAR NOT NULL",
        "flights": "BIGINT",
        "avg_distance": "DOUBLE",
        "max_air_time": "DOUBLE",
    },
)
def route_stats(ctx, raw_flights: pd.DataFrame) -> pd.DataFrame:
    """pandas: per route and day, flights, mean distance and the longest time in the air."""
    routes = raw_flights.groupby(["flight_date", "origin", "dest"], as_index=False).agg(
        flights=("flight", "size"),
        avg_distance=("distance", "mean"),
        max_air_time=("air_time", "max"),
    )
    routes["max_air_time"] = routes["max_air_time"].astype("float64")
    return routes


@asset(partitions=YEAR_2013, batch_size=BATCH, partition_by="flight_date")
def carrier_punctuality(ctx, raw_flights: pl.LazyFrame) -> pl.LazyFrame:
    """polars: per carrier and day, arrivals and the share within 15 minutes of schedule."""
    import polars as pl

    return (
        raw_flights.filter(pl.col("arr_delay").is_not_null())
        .group_by("flight_date", "carrier")
        .agg(
            arrivals=pl.len().cast(pl.Int64),
            on_time=(pl.col("arr_delay") <= 15).sum().cast(pl.Int64),
        )
        .with_columns(on_time_share=(pl.col("on_time") / pl.col("arrivals")).round(4))
    )
