"""Dynamic partitions (issue 16): a key set stored in the warehouse, changed at run time."""

import json

PIPELINE = """
from assetflow import all_partitions, asset, dynamic

CUSTOMERS = dynamic("customers")


@asset(partitions=CUSTOMERS)
def orders(ctx):
    return f"SELECT '{ctx.partition}' AS customer, length('{ctx.partition}') AS amount"


@asset(partitions=CUSTOMERS)
def order_totals(ctx, orders):
    return "SELECT customer, sum(amount) * 10 AS total FROM orders GROUP BY customer"


@asset(deps={"order_totals": all_partitions()})
def all_customers(ctx, order_totals):
    return "SELECT count(*) AS customers, sum(total) AS total FROM order_totals"
"""


def _status(project):
    report = json.loads(project.run("status", "--json").output)
    return {a["asset"]: a["counts"] for a in report["assets"]}


def test_keys_come_and_go_and_every_command_follows(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert _status(project)["orders"]["missing"] == 0  # no customers yet: no partitions
    added = project.run("partitions", "add", "customers", "acme", "bolt")
    assert added.exit_code == 0, added.output
    assert "added 2 keys to customers: acme, bolt (now 2 keys)" in added.output
    assert _status(project)["orders"]["missing"] == 2
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT customers, total FROM all_customers") == [(2, 80)]

    again = project.run("partitions", "add", "customers", "bolt", "cargo")
    assert "added 1 key to customers: cargo (now 3 keys)" in again.output
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)
    assert [(n["asset"], n["partition"]) for n in plan["nodes"]] == [
        ("orders", "cargo"), ("order_totals", "cargo"), ("all_customers", "__all__")
    ]  # fmt: skip
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT customers, total FROM all_customers") == [(3, 130)]

    removed = project.run("partitions", "remove", "customers", "acme")
    assert "removed 1 key from customers: acme (now 2 keys)" in removed.output
    assert "their rows stay in order_totals, orders until wiped" in removed.output
    counts = _status(project)
    assert counts["orders"] == {"fresh": 2, "stale": 0, "missing": 0, "failed": 0, "late": 0}
    assert counts["all_customers"]["stale"] == 1  # it read acme, which is gone
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT customers, total FROM all_customers") == [(2, 90)]
    # The rows stay until wiped; adding the key again brings its lineage back: fresh.
    assert project.query("SELECT count(*) FROM orders WHERE _partition = 'acme'") == [(1,)]
    project.run("partitions", "add", "customers", "acme")
    assert _status(project)["orders"]["fresh"] == 3
    listed = json.loads(project.run("partitions", "list", "--json").output)
    assert listed == {"customers": ["acme", "bolt", "cargo"]}


def test_bad_names_and_keys_are_one_line(project):
    project.write("definitions/pipeline.py", PIPELINE)
    unknown = project.run("partitions", "add", "clients", "acme")
    assert unknown.exit_code == 2 and "no dynamic partitions named 'clients'" in unknown.output
    bad = project.run("partitions", "add", "customers", "a|b")
    assert bad.exit_code == 2 and "keys are 1..200 characters, without |" in bad.output
    missing = project.run("materialize", "orders", "--partition", "zed")
    assert missing.exit_code == 2
    assert "unknown partition key 'zed' of dynamic partitions customers" in missing.output


def test_a_key_sensor_adds_one_key_per_landing_folder_and_runs_it(project):
    project.write("definitions/pipeline.py", PIPELINE)
    project.write(
        "definitions/discover.py",
        'from assetflow import key_sensor\nnew_customers = key_sensor("customers", "landing/customers/*")\n',
    )
    for name in ("acme", "bolt"):
        project.write(f"landing/customers/{name}/orders.csv", "x\n1\n")
    first = json.loads(project.run("tick", "--json").output)
    assert [e["name"] for e in first] == ["customers_keys"], first
    assert project.query("SELECT _partition FROM orders ORDER BY 1") == [("acme",), ("bolt",)]
    assert project.query("SELECT customers FROM all_customers") == [(2,)]
    assert project.run("tick").exit_code == 0  # nothing new: nothing runs
    assert project.query("SELECT count(DISTINCT run_id) FROM assetflow.materializations") == [(1,)]
    project.write("landing/customers/cargo/orders.csv", "x\n1\n")
    assert project.run("tick").exit_code == 0
    assert json.loads(project.run("partitions", "list", "--json").output) == {
        "customers": ["acme", "bolt", "cargo"]
    }
    assert project.query("SELECT customers FROM all_customers") == [(3,)]


def test_reading_a_key_set_with_no_keys_says_so(project):
    project.write("definitions/pipeline.py", PIPELINE)
    result = project.run("materialize", "all_customers")
    assert result.exit_code == 1, result.output  # the node failed, nothing else ran
    assert (
        "all_customers reads order_totals, which has no partitions yet (dynamic customers (0 keys))"
        in result.output
    )
    assert "Traceback" not in result.output


def test_a_key_with_a_quote_is_written_and_refreshed(project):
    project.write(
        "definitions/quoted.py",
        'from assetflow import asset, dynamic\n\n\n@asset(partitions=dynamic("names"))\n'
        'def per_name(ctx):\n    return "SELECT 1 AS x"\n',
    )
    assert project.run("partitions", "add", "names", "o'neil", "smith").exit_code == 0
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    assert project.query("SELECT _partition FROM per_name ORDER BY 1") == [("o'neil",), ("smith",)]
    refresh = project.run("materialize", "--full-refresh")
    assert refresh.exit_code == 0, refresh.output
    assert project.query("SELECT _partition FROM per_name ORDER BY 1") == [("o'neil",), ("smith",)]


KEYS_FROM_DATA = """
from assetflow import asset, dynamic, source


@source(path="landing/signups.csv")
def signups(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(adds_keys={"customers": "customer"})
def customer_list(ctx, signups):
    return "SELECT DISTINCT customer FROM signups"


@asset(partitions=dynamic("customers"))
def welcome(ctx, customer_list):
    return f"SELECT '{ctx.partition}' AS customer, 'hello ' || '{ctx.partition}' AS message"
"""


def test_an_asset_adds_keys_from_its_rows_and_their_partitions_run_next(project):
    project.write("definitions/pipeline.py", KEYS_FROM_DATA)
    project.write("landing/signups.csv", "customer\nacme\nbolt\nacme\n")
    first = project.run("materialize")
    assert first.exit_code == 0, first.output
    assert "keys: customers + acme, bolt" in first.output
    assert project.query("SELECT customer FROM welcome ORDER BY 1") == [("acme",), ("bolt",)]
    assert _status(project)["welcome"]["fresh"] == 2
    listed = json.loads(project.run("partitions", "list", "--json").output)
    assert listed == {"customers": ["acme", "bolt"]}

    project.write("landing/signups.csv", "customer\nacme\nbolt\ncargo\n")
    second = project.run("materialize")
    assert second.exit_code == 0, second.output
    assert "keys: customers + cargo" in second.output
    assert project.query("SELECT count(*) FROM welcome") == [(3,)]
    counts = _status(project)
    assert all(c["fresh"] == sum(c.values()) - c["late"] for c in counts.values()), counts

    # A value that cannot be a key fails the write: no rows, no keys, one line.
    project.write("landing/signups.csv", "customer\nacme\n" + "z" * 201 + "\n")
    bad = project.run("materialize")
    assert bad.exit_code != 0
    assert "column customer holds a value that cannot be a key of customers" in bad.output
    assert project.query("SELECT count(*) FROM customer_list") == [(3,)]
    listed = json.loads(project.run("partitions", "list", "--json").output)
    assert listed == {"customers": ["acme", "bolt", "cargo"]}


def test_adds_keys_must_name_a_dynamic_key_set_and_a_column(project):
    project.write("definitions/pipeline.py", KEYS_FROM_DATA.replace('{"customers"', '{"clients"'))
    project.write("landing/signups.csv", "customer\nacme\n")
    unknown = project.run("status")
    assert unknown.exit_code == 2
    assert "adds_keys names 'clients', which no dynamic() partitioning reads" in unknown.output
    project.write("definitions/pipeline.py", KEYS_FROM_DATA.replace('"customer"}', '"who"}'))
    missing = project.run("materialize")
    assert missing.exit_code != 0
    assert "adds keys to customers from column who, which it does not return" in missing.output
