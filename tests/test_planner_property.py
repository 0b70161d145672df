"""Property: on random DAGs over every partition kind and mapping, with random source, code
and key-set edits, the plan is exactly the nodes that must be looked at, running it
recomputes exactly the nodes whose code, read set or input data changed (early cutoff), and
every table ends as a rebuild from scratch would leave it.

Kinds: hours (floating, and Europe/Berlin across the spring DST change), days, ISO weeks,
months, quarters, a year, static and dynamic keys, day x region, day x customer (dynamic),
month x region, unpartitioned. Edges: the default, `all_partitions()`, windows with
offsets (across units too), `dims(customer=all_partitions())` and `key_map`, each drawn
where the mapping applies. Key-set edits add and remove keys of the dynamic set.

The oracle is a brute force over nodes: what each node reads before and after the edit
(`AssetGraph.inputs`), which nodes are new, which inputs changed, and a scratch rebuild.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assetflow
from assetflow.app import keys
from assetflow.app.config import load_project
from assetflow.app.materialize import RunOptions, materialize
from assetflow.app.session import Request, Session
from assetflow.core.graph import AssetGraph
from assetflow.core.mappings import mapping_problem
from assetflow.core.records import Node
from assetflow.run.clock import FixedClock

pytestmark = pytest.mark.slow  # many materializations per example

NOW = dt.datetime(2024, 6, 1)
SOURCE = "src"  # by day; its files are edited
KEYED = "csrc"  # by customer (the dynamic set): what its readers read follows the set
DAYS = [f"2024-{d}" for d in ("03-30", "03-31", "04-01", "04-02")]  # Berlin's DST on 03-31
CUSTOMERS = ["k1", "k2", "k3", "k4"]

KINDS = {
    "day": 'daily("2024-03-30", "2024-04-02")',
    "hour": 'hourly("2024-03-30T00", "2024-04-02T23")',
    # The same instants as the UTC kinds (00:00Z on 03-30 to 23:00Z on 04-02): an hour whose
    # own period another kind does not have is refused by the plan, never built empty.
    "hour_berlin": 'hourly("2024-03-30T01", "2024-04-03T01", tz="Europe/Berlin")',
    "week": 'weekly("2024-03-25", "2024-04-07")',
    "month": 'monthly("2024-03", "2024-04")',
    "quarter": 'quarterly("2024-Q1", "2024-Q2")',
    "year": 'yearly("2024", "2024")',
    "static": 'static("eu", "us")',
    "dynamic": 'dynamic("customers")',
    "day_region": 'multi(day=daily("2024-03-30", "2024-04-02"), region=static("eu", "us"))',
    "day_customer": 'multi(day=daily("2024-03-30", "2024-04-02"), customer=dynamic("customers"))',
    "month_region": 'multi(month=monthly("2024-03", "2024-04"), region=static("eu", "us"))',
    "none": "unpartitioned()",
}
MAPPINGS = [
    "window()",
    "all_partitions()",
    "window(-1, 0)",
    "window(-1, -1)",
    "window(0, 1)",
    "dims(customer=all_partitions())",
    "dims(day=window(-1, 0))",
    'key_map({"eu": ["k1", "k2"], "us": ["k2", "k4"]})',
    'key_map({"k1": ["eu"], "k2": ["eu", "us"], "k3": ["us"]})',
]
NAMES = {n: getattr(assetflow, n) for n in assetflow.__all__}


def _valid(down: str, up: str) -> list[str]:
    """The mappings that apply between two kinds (window() first: the default)."""
    d, u = eval(KINDS[down], NAMES), eval(KINDS[up], NAMES)  # noqa: S307 - our own table
    return [m for m in MAPPINGS if mapping_problem(eval(m, NAMES), d, u) is None]  # noqa: S307


@st.composite
def pipelines(draw):
    assets: list[dict] = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(sorted(KINDS)))
        candidates = [SOURCE, KEYED] + [a["name"] for a in assets]
        deps = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=2, unique=True))
        mappings = {}
        for dep in deps:
            kinds = {SOURCE: "day", KEYED: "dynamic"} | {a["name"]: a["kind"] for a in assets}
            up = kinds[dep]
            mappings[dep] = draw(st.sampled_from(_valid(kind, up)))
        assets.append(
            {
                "name": f"a{i}",
                "kind": kind,
                "deps": mappings,
                "mod": draw(st.sampled_from([2, 3, 1000])),
                "const": draw(st.integers(0, 5)),
            }
        )
    values = draw(st.lists(st.integers(0, 9), min_size=len(DAYS), max_size=len(DAYS)))
    customers = draw(st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=3, unique=True))
    return {"assets": assets, "values": values, "customers": sorted(customers)}


def definitions(pipeline, consts) -> str:
    lines = [
        "from assetflow import *",
        '@source(partitions=daily("2024-03-30", "2024-04-02"), path="landing/{partition}.csv")',
        f"def {SOURCE}(ctx):",
        "    return f\"SELECT * FROM read_csv('{ctx.path}', header = true, columns = {{'v': 'BIGINT'}})\"",
        '@source(partitions=dynamic("customers"), path="landing/c/{partition}.csv")',
        f"def {KEYED}(ctx):",
        "    return f\"SELECT * FROM read_csv('{ctx.path}', header = true, columns = {{'v': 'BIGINT'}})\"",
    ]
    for a in pipeline["assets"]:
        deps = ", ".join(f'"{d}": {m}' for d, m in a["deps"].items())
        union = " UNION ALL ".join(f"SELECT v FROM {d}" for d in a["deps"])
        lines += [
            f"@asset(partitions={KINDS[a['kind']]}, deps={{{deps}}})",
            f"def {a['name']}(ctx, {', '.join(a['deps'])}):",
            f'    return "SELECT coalesce(sum(v), 0) % {a["mod"]} + {consts[a["name"]]} AS v'
            f' FROM ({union})"',
        ]
    return "\n".join(lines) + "\n"


def write_project(root: Path, pipeline, consts, values) -> None:
    (root / "definitions").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.assetflow]\n")
    (root / "definitions" / "p.py").write_text(definitions(pipeline, consts))
    (root / "landing").mkdir(exist_ok=True)
    for day, value in zip(DAYS, values, strict=True):
        (root / "landing" / f"{day}.csv").write_text(f"v\n{value}\n{value * 7 % 10}\n")
    (root / "landing" / "c").mkdir(exist_ok=True)
    for number, customer in enumerate(CUSTOMERS, start=1):
        (root / "landing" / "c" / f"{customer}.csv").write_text(f"v\n{number * 10}\n")


def session(root: Path) -> Session:
    return Session(load_project(root), FixedClock(NOW), NOW)


def run(root: Path, dry_run: bool = False):
    with session(root) as s:
        return materialize(s, Request(), RunOptions(dry_run=dry_run))


def set_keys(root: Path, wanted: list[str], had: list[str]) -> None:
    with session(root) as s:
        if gone := [k for k in had if k not in wanted]:
            keys.change(s, "customers", gone, add=False)
        if new := [k for k in wanted if k not in had]:
            keys.change(s, "customers", new, add=True)


def versions(root: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT asset, partition, arg_max(data_version, materialization_id)"
            " FROM assetflow.materializations GROUP BY ALL"
        ).fetchall()
    return {(a, p): v for a, p, v in rows}


def nodes(graph: AssetGraph) -> list[Node]:
    """Every node the definitions have now, upstream assets first."""
    out = []
    for asset in graph.order:
        parts = graph.defs.assets[asset].partitions
        out += [Node(asset, parts.key(i)) for i in parts.universe(NOW)]
    return out


def reads(graph: AssetGraph, node: Node) -> frozenset[tuple[str, str]]:
    return frozenset((r.name, k) for r in graph.inputs(node, NOW) for k in r.keys)


@settings(
    max_examples=int(os.environ.get("ASSETFLOW_PROPERTY_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pipeline=pipelines(), data=st.data())
def test_plan_is_minimal_and_sufficient(pipeline, data):
    names = [a["name"] for a in pipeline["assets"]]
    consts = {a["name"]: a["const"] for a in pipeline["assets"]}
    edited_code = set(data.draw(st.lists(st.sampled_from(names), unique=True, max_size=2)))
    new_values = list(pipeline["values"])
    for day in data.draw(st.lists(st.integers(0, len(DAYS) - 1), unique=True, max_size=2)):
        new_values[day] = data.draw(st.integers(0, 9))  # may equal the old value
    new_customers = data.draw(
        st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=3, unique=True).map(sorted)
    )
    with tempfile.TemporaryDirectory() as tmp:
        real, scratch = Path(tmp) / "real", Path(tmp) / "scratch"
        write_project(real, pipeline, consts, pipeline["values"])
        set_keys(real, pipeline["customers"], [])
        first = run(real)
        assert first.result is None or first.result.exit_code == 0, first.result
        before_graph, before = first.graph, versions(real)

        new_consts = {n: c + 1 if n in edited_code else c for n, c in consts.items()}
        write_project(real, pipeline, new_consts, new_values)
        set_keys(real, new_customers, pipeline["customers"])
        outcome = run(real, dry_run=True)
        planned = {(p.node.asset, p.node.partition) for p in outcome.plan.nodes}

        # Brute force: a node must be looked at when it is new, its code changed, what it
        # reads changed (a key set edit), it reads an edited source day, or it reads a node
        # that must be looked at.
        graph = outcome.graph
        changed_days = {
            d for d, a, b in zip(DAYS, pipeline["values"], new_values, strict=True) if a != b
        }
        read_now = {n: reads(graph, n) for n in nodes(graph)}

        def read_set_changed(n: Node) -> bool:
            return read_now[n] != reads(before_graph, n)

        looked: set[tuple[str, str]] = set()
        for n in read_now:
            if (
                (n.asset, n.partition) not in before
                or n.asset in edited_code
                or read_set_changed(n)
                or any(
                    r in looked or (r[0] == SOURCE and r[1] in changed_days) for r in read_now[n]
                )
            ):
                looked.add((n.asset, n.partition))
        assert planned == looked

        result = run(real).result
        assert result is None or result.exit_code == 0, result
        recomputed = {
            (r.node.asset, r.node.partition)
            for r in (result.results if result else ())
            if r.status == "success"
        }

        write_project(scratch, pipeline, new_consts, new_values)
        set_keys(scratch, new_customers, [])
        done = run(scratch).result
        assert done is None or done.exit_code == 0, done
        rebuilt = versions(scratch)
        real_now = versions(real)
        # Sufficient: every node the definitions have now holds what a rebuild holds.
        assert {n: real_now.get(n) for n in rebuilt} == rebuilt

        # Minimal: recomputed exactly where code, the read set or an input's data changed.
        def input_changed(r: tuple[str, str]) -> bool:
            if r[0] in (SOURCE, KEYED):  # a customer's file never changes
                return r[0] == SOURCE and r[1] in changed_days
            return before.get(r) != rebuilt[r]

        must = {
            (n.asset, n.partition)
            for n in read_now
            if (n.asset, n.partition) not in before
            or n.asset in edited_code
            or read_set_changed(n)
            or any(input_changed(r) for r in read_now[n])
        }
        assert recomputed == must
        shutil.rmtree(scratch)
