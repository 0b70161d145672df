"""Weather per airport and day, and how departure delays line up with it."""

from assetflow import accepted_values, asset, hourly, unique

from .flights import BATCH
from .landing import WEATHER_DAYS


@asset(
    partitions=WEATHER_DAYS,
    checks=[accepted_values("origin", ["EWR", "JFK", "LGA"]), unique("day", "origin")],
    batch_size=BATCH,
    partition_by="day",
)
def weather_daily(ctx, weather_landing):
    """Per origin airport and day: temperature, precipitation, wind and visibility."""
    return """
        SELECT make_date(year, month, day) AS day, origin,
               round(avg(temp), 2) AS avg_temp_f,
               round(sum(precip), 2) AS total_precip_in,
               round(max(wind_speed), 2) AS max_wind_mph,
               round(min(visib), 2) AS min_visibility_mi,
               count(*) AS observations
        FROM weather_landing
        GROUP BY ALL
    """


@asset(partitions=WEATHER_DAYS, batch_size=BATCH, partition_by="flight_date")
def delays_vs_weather(ctx, raw_flights, weather_daily):
    """A Python asset: departures per origin and day joined to that day's weather."""
    per_origin = raw_flights.aggregate(
        "flight_date, origin, count(*) AS flights, round(avg(dep_delay), 2) AS avg_dep_delay",
        "flight_date, origin",
    ).set_alias("f")
    ctx.log.info("joining %s origin-days to the weather", per_origin.shape[0])
    joined = per_origin.join(
        weather_daily.set_alias("w"), "f.flight_date = w.day AND f.origin = w.origin", how="left"
    )
    return joined.select(
        "f.flight_date, f.origin, f.flights, f.avg_dep_delay, w.avg_temp_f, w.total_precip_in,"
        " w.max_wind_mph, w.min_visibility_mi, w.observations"
    )


@asset(
    partitions=hourly("2013-01-01T00", "2013-12-30T23"),
    batch_size=24 * 31,
    partition_by="hour",
)
def weather_hourly(ctx, weather_landing):
    """Per origin airport and local hour (the package's hours are New York wall-clock time,
    so these partitions float: no timezone): temperature, precipitation and wind. Each hour
    reads its day's landing file; a month of hours runs as one task."""
    return """
        SELECT make_timestamp(year, month, day, hour, 0, 0) AS hour, origin,
               round(avg(temp), 2) AS temp_f,
               round(sum(precip), 2) AS precip_in,
               round(max(wind_speed), 2) AS wind_mph,
               count(*) AS observations
        FROM weather_landing
        GROUP BY ALL
    """
