"""Failure propagation: ingest_orders, ingest_users -> stg_orders, stg_users -> fct_orders
-> notify. When ingest_orders fails, its downstream is upstream_failed; the users branch runs."""

import json
import os
import urllib.request

import pyarrow as pa

from assetflow import asset, daily

DAYS = daily(start="2024-01-01")


def fetch(variable: str, path: str, day: str) -> list[dict]:
    with urllib.request.urlopen(f"{os.environ[variable]}/{path}?date={day}", timeout=30) as r:
        return json.load(r)


@asset(partitions=DAYS)
def ingest_orders(ctx):
    rows = fetch("ORDERS_API_URL", "orders", ctx.partition)
    schema = pa.schema([("order_id", pa.int64()), ("customer", pa.string()),
                        ("amount", pa.float64())])  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


@asset(partitions=DAYS)
def ingest_users(ctx):
    rows = fetch("USERS_API_URL", "users", ctx.partition)
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("user_id", pa.int64()), ("name", pa.string())])
    )


@asset(partitions=DAYS)
def stg_orders(ctx, ingest_orders):
    return "SELECT order_id, lower(customer) AS customer, amount FROM ingest_orders"


@asset(partitions=DAYS)
def stg_users(ctx, ingest_users):
    return "SELECT user_id, lower(name) AS name FROM ingest_users"


@asset(partitions=DAYS)
def fct_orders(ctx, stg_orders, stg_users):
    return """
        SELECT o.customer, u.user_id, count(*) AS orders, sum(o.amount) AS revenue
        FROM stg_orders o LEFT JOIN stg_users u ON u.name = o.customer
        GROUP BY ALL
    """


@asset(partitions=DAYS)
def notify(ctx, fct_orders):
    """Tell the team the day is ready (a webhook), and record that it did."""
    total = fct_orders.aggregate("sum(revenue)").fetchall()[0][0]
    body = json.dumps({"text": f"orders for {ctx.partition} are ready: revenue {total:.2f}"})
    request = urllib.request.Request(
        os.environ["NOTIFY_WEBHOOK_URL"], data=body.encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()
    return pa.table({"day": [ctx.partition], "revenue": [total]})
