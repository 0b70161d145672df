"""A daily pipeline at 03:00 UTC: ingest the day's orders from an HTTP API, then transform.

Retries (3, exponential from 5 minutes) and the failure alert are declared once, as
defaults; each asset carries its own SLA; catchup is off (the schedule's default).
"""

import datetime as dt
import json
import os
import urllib.request

import pyarrow as pa

from assetflow import RetryPolicy, asset, daily, not_null, project_defaults, schedule, webhook

DAYS = daily(start="2024-01-01")

defaults = project_defaults(
    retry=RetryPolicy(max_retries=3, delay=300, backoff=2, jitter="none"),
    on_failure=[webhook("ALERT_WEBHOOK_URL")],  # names pipeline, task, date, attempts, log
    on_sla_miss=[webhook("ALERT_WEBHOOK_URL")],
)

# Every day at 03:00 UTC, build the day that just ended; after a pause, only the latest.
daily_orders = schedule("daily_orders", "0 3 * * *", ["ingest_orders", "transform_orders"])

ORDERS = pa.schema([("order_id", pa.int64()), ("customer", pa.string()), ("amount", pa.float64())])


@asset(partitions=DAYS, sla=dt.timedelta(hours=1), checks=[not_null("order_id")])
def ingest_orders(ctx):
    """The day's orders, as the orders API returns them."""
    url = f"{os.environ['ORDERS_API_URL']}/orders?date={ctx.partition}"
    with urllib.request.urlopen(url, timeout=30) as response:  # HTTP errors are retried
        return pa.Table.from_pylist(json.load(response), schema=ORDERS)


@asset(partitions=DAYS, sla=dt.timedelta(hours=2))
def transform_orders(ctx, ingest_orders):
    """Orders and revenue per customer and day."""
    return f"""
        SELECT DATE '{ctx.partition}' AS day, customer,
               count(*) AS orders, sum(amount) AS revenue
        FROM ingest_orders GROUP BY customer
    """
