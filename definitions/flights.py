"""Flights: the day's raw flights, delays per carrier, a trailing week and a monthly report."""

import os

from assetflow import asset, expression, monthly, multi, not_null, row_count, static, unique, window

from .landing import YEAR_2013

# Up to a month of stale days runs as one task: one delete, one insert, one lineage record per
# day. Set ASSETFLOW_EXAMPLE_BATCH=1 to compare with one task per day (bench/backfill_year.py).
BATCH = int(os.environ.get("ASSETFLOW_EXAMPLE_BATCH", "31"))
RAW_CHECKS = [not_null("carrier", "flight_date", "origin"), row_count(min=1)]


@asset(partitions=YEAR_2013, checks=RAW_CHECKS, batch_size=BATCH, partition_by="flight_date")
def raw_flights(ctx, flights_landing):
    """The day's departures as landed, typed, with the flight date."""
    return """
        SELECT make_date(year, month, day) AS flight_date, carrier, flight, tailnum,
               origin, dest, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time,
               arr_delay, air_time, distance,
               strptime(time_hour, '%Y-%m-%dT%H:%M:%SZ') AS scheduled_hour_utc
        FROM flights_landing
    """


# Averages within a day either way; NULL when every flight of the day was cancelled.
PLAUSIBLE_DELAYS = expression(
    "coalesce(avg_dep_delay, 0) BETWEEN -60 AND 1440"
    " AND coalesce(avg_arr_delay, 0) BETWEEN -120 AND 1440",
    severity="warn",
    name="plausible_delays",
)


@asset(
    partitions=YEAR_2013,
    checks=[not_null("carrier"), unique("flight_date", "carrier"), PLAUSIBLE_DELAYS],
    batch_size=BATCH,
    partition_by="flight_date",
)
def daily_carrier_delays(ctx, raw_flights):
    """Per carrier and day: flights, cancellations and delays in minutes."""
    return """
        SELECT flight_date, carrier,
               count(*) AS flights,
               count(*) FILTER (WHERE dep_time IS NULL) AS cancelled,
               round(avg(dep_delay), 2) AS avg_dep_delay,
               count(arr_delay) AS arrivals,
               sum(arr_delay) AS arr_delay_total,
               round(avg(arr_delay), 2) AS avg_arr_delay
        FROM raw_flights
        GROUP BY flight_date, carrier
    """


@asset(
    partitions=YEAR_2013,
    deps={"daily_carrier_delays": window(-6, 0)},
    batch_size=BATCH,
    partition_by="day",
)
def rolling_7d_delays(ctx, daily_carrier_delays):
    """Per carrier: the arrival delay over the seven days ending on each day of the task
    (one day, or a batch: ctx.start..ctx.end)."""
    return f"""
        SELECT d.day, x.carrier,
               sum(x.flights) AS flights_7d,
               sum(x.arrivals) AS arrivals_7d,
               round(sum(x.arr_delay_total) / nullif(sum(x.arrivals), 0), 2) AS avg_arr_delay_7d,
               count(*) AS days_flown
        FROM (SELECT unnest(range(DATE '{ctx.start}', DATE '{ctx.end}', INTERVAL 1 DAY))::DATE
              AS day) d
        JOIN daily_carrier_delays x ON x.flight_date BETWEEN d.day - 6 AND d.day
        GROUP BY d.day, x.carrier
    """


@asset(partitions=monthly(start="2013-01", end="2013-12"), checks=[unique("carrier")])
def monthly_carrier_report(ctx, daily_carrier_delays):
    """Per carrier and month: the days of the month rolled up."""
    return f"""
        SELECT '{ctx.partition}' AS month, carrier,
               sum(flights) AS flights,
               sum(cancelled) AS cancelled,
               round(sum(arr_delay_total) / nullif(sum(arrivals), 0), 2) AS avg_arr_delay,
               count(*) AS days_flown
        FROM daily_carrier_delays
        GROUP BY carrier
    """


AIRPORTS = multi(day=YEAR_2013, origin=static("EWR", "JFK", "LGA"))


@asset(partitions=AIRPORTS, batch_size=BATCH, partition_by="flight_date")
def departures_by_origin(ctx, raw_flights):
    """Per day and New York airport (two dimensions: day x origin): departures and mean
    departure delay. A batch is consecutive days of one airport."""
    return f"""
        SELECT flight_date, origin, count(*) AS departures,
               round(avg(dep_delay), 2) AS avg_dep_delay
        FROM raw_flights WHERE origin = '{ctx.dims["origin"]}'
        GROUP BY ALL
    """


@asset(partitions=YEAR_2013, batch_size=BATCH, partition_by="flight_date")
def departures_all_airports(ctx, departures_by_origin):
    """Per day, the three airports rolled up (a day reads its day x every origin)."""
    return """
        SELECT flight_date, sum(departures) AS departures, count(*) AS airports
        FROM departures_by_origin GROUP BY ALL
    """
