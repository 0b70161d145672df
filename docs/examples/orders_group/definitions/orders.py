"""A daily-partitioned asset group, `orders`: stg_orders -> fct_orders from 2024-01-01,
with one alert per failed run carrying the run id and the errors."""

from assetflow import asset, daily, not_null, project_defaults, source, unique, webhook

DAYS = daily(start="2024-01-01")

defaults = project_defaults(on_run_failure=[webhook("ALERT_WEBHOOK_URL")])


@source(partitions=DAYS, path="landing/orders/{partition}.csv")
def raw_orders(ctx):
    """The shop's export, one CSV per day."""
    return (
        f"SELECT * FROM read_csv('{ctx.path}', header = true, auto_detect = false,"
        " columns = {'order_id': 'BIGINT', 'customer': 'VARCHAR', 'amount': 'VARCHAR'})"
    )


@asset(partitions=DAYS, group="orders", checks=[not_null("order_id"), unique("order_id")])
def stg_orders(ctx, raw_orders):
    """Typed and cleaned orders; an amount that is not a number is a data error."""
    return """
        SELECT order_id, lower(trim(customer)) AS customer, CAST(amount AS DOUBLE) AS amount
        FROM raw_orders
    """


@asset(partitions=DAYS, group="orders")
def fct_orders(ctx, stg_orders):
    """One row per customer and day."""
    return f"""
        SELECT DATE '{ctx.partition}' AS day, customer,
               count(*) AS orders, sum(amount) AS revenue
        FROM stg_orders GROUP BY customer
    """


@asset(partitions=DAYS)
def marketing_spend(ctx):
    """Not in the group: `assetflow materialize group:orders` leaves it alone."""
    return f"SELECT DATE '{ctx.partition}' AS day, 100.0 AS spend"
