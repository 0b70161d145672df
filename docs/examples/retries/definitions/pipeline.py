"""Pipeline-level retries and failure hook, overridden for one flaky asset.

Every asset inherits 2 retries 300 s apart and the failure alert; `fx_rates`, whose API is
known to be flaky, declares its own policy: 3 retries from 60 s. It retries alone: nothing
else re-runs, and what does not depend on it does not wait for it.
"""

import json
import os
import urllib.request

import pyarrow as pa

from assetflow import RetryPolicy, asset, daily, project_defaults, webhook

DAYS = daily(start="2024-01-01")

defaults = project_defaults(
    retry=RetryPolicy(max_retries=2, delay=300, backoff=1, jitter="none"),
    on_failure=[webhook("ALERT_WEBHOOK_URL")],
)


def fetch(variable: str, path: str, day: str) -> list[dict]:
    with urllib.request.urlopen(f"{os.environ[variable]}/{path}?date={day}", timeout=30) as r:
        return json.load(r)


@asset(partitions=DAYS)
def ingest_orders(ctx):
    """The day's orders (pipeline-level retries: 2 x 300 s)."""
    return pa.Table.from_pylist(
        fetch("ORDERS_API_URL", "orders", ctx.partition),
        schema=pa.schema([("order_id", pa.int64()), ("customer", pa.string()),
                          ("amount", pa.float64())]),
    )  # fmt: skip


@asset(partitions=DAYS, retry=RetryPolicy(max_retries=3, delay=60, backoff=2, jitter="none"))
def fx_rates(ctx):
    """USD to EUR for the day, from a flaky API (its own policy: 3 retries, 60 s, 120 s, 240 s)."""
    rates = fetch("RATES_API_URL", "rates", ctx.partition)
    return pa.Table.from_pylist(rates, schema=pa.schema([("usd_eur", pa.float64())]))


@asset(partitions=DAYS)
def revenue_eur(ctx, ingest_orders, fx_rates):
    """Revenue per customer in euros."""
    return """
        SELECT customer, sum(amount * usd_eur) AS revenue_eur
        FROM ingest_orders CROSS JOIN fx_rates GROUP BY customer
    """
