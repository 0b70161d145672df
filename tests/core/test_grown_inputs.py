"""Nodes whose recorded input ranges differ from what their mappings read today
(`upstream_changed` without a changed upstream): the status compares tens of thousands of
clipped nodes once per time index where the edges allow it. Checked against the plain
comparison, node by node, on hand-built records — some as recorded, some moved."""

import datetime as dt

from hand import DAYS, spec
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.definitions import validate
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import all_partitions, dims, key_map, window
from assetflow.core.partitions import dynamic, multi, static, with_keys
from assetflow.core.records import Facts
from assetflow.core.specs import SourceSpec
from assetflow.core.status import _grown_inputs

NOW = dt.datetime(2024, 6, 1)
REGIONS = static("eu", "us", "apac")
CUSTOMERS = with_keys(
    dynamic("customers"), ((0, "acme", True), (1, "gone", False), (2, "bolt", True))
)
DAY_REGION = multi(day=DAYS, region=REGIONS)
DAY_CUSTOMER = multi(day=DAYS, customer=CUSTOMERS)


def graph() -> AssetGraph:
    """Every kind of edge: by time alone (from a daily source, a dimension read whole),
    along the same keys (a trailing window per region), key by key (a key_map), into a
    one-dimension asset, and an asset mixing two kinds."""
    events = SourceSpec("events", lambda ctx: "", DAYS, None, lambda key: "v1", "hand.py", 1)
    return AssetGraph(
        validate(
            [
                events,
                spec("base", DAY_REGION, ("events", window(-2, 0))),
                spec("roll", DAY_REGION, ("base", window(-1, 0))),
                spec("wide", DAY_CUSTOMER, ("base", dims(day=window(-3, 0)))),
                spec("every", DAY_REGION, ("base", dims(region=all_partitions()))),
                spec("swap", DAY_REGION, ("base", key_map({"eu": "us", "us": "eu", "apac": []}))),
                spec("mixed", DAY_REGION, ("roll", window(-2, 0)), ("events", window(-1, 0))),
                spec("total", DAYS, ("base", window(-1, 0))),
                spec("customers", DAY_CUSTOMER, ("wide", window(-1, 0))),
            ]
        )
    )


GRAPH = graph()
NODES = [
    (asset, index)
    for asset in GRAPH.defs.assets
    for index in GRAPH.defs.assets[asset].partitions.universe(NOW)
]


def expected(asset: str, index: int) -> dict[str, tuple[int, int, int]]:
    """What the node reads, found by the set-wise walk (not the per-node mapper that the
    status's comparison uses)."""
    deps = GRAPH.defs.assets[asset].deps
    out = {}
    for dep, edge in zip(deps, GRAPH.edges(asset), strict=True):
        read = edge.reads(Intervals.points([index]), NOW)
        if read:
            out[dep.name] = (read.spans[0][0], read.spans[-1][1], len(read))
    return out


def grown_one_by_one(facts: Facts) -> dict[str, Intervals]:
    points: dict[str, list[int]] = {}
    for (asset, index), recorded in facts.recorded_ranges.items():
        universe = GRAPH.defs.assets[asset].partitions.universe(NOW)
        if index in universe and expected(asset, index) != recorded:
            points.setdefault(asset, []).append(index)
    return {asset: Intervals.points(p) for asset, p in points.items()}


def moved(form: dict[str, tuple[int, int, int]], how: int, by: int) -> dict:
    """A recorded form changed one way: a range's start, end or count moved, an input
    dropped or one more."""
    if not form or how == 0:
        return {**form, "extra": (1, 1, 1)}
    name = sorted(form)[by % len(form)]
    first, last, count = form[name]
    if how == 1:
        return {k: v for k, v in form.items() if k != name}
    change = [(first - by, last, count), (first, last + by, count), (first, last, count + by)]
    return {**form, name: change[how - 2]}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(NODES) - 1), st.booleans(), st.integers(0, 4), st.integers(1, 3)
        ),
        max_size=60,
    )
)
def test_nodes_compared_by_time_index_are_those_compared_one_by_one(picks):
    recorded = {}
    for n, as_recorded, how, by in picks:
        asset, index = NODES[n]
        form = expected(asset, index)
        recorded[asset, index] = form if as_recorded else moved(form, how, by)
    facts = Facts({}, {}, {}, {}, {}, {}, recorded_ranges=recorded)
    assert _grown_inputs(GRAPH, facts, NOW) == grown_one_by_one(facts)


def test_a_window_clipped_in_every_key_combination_is_compared_along_its_own_keys():
    """The first two days of every region, recorded as their windows read then; one region's
    first day recorded with a wider window than it reads today is the only one grown."""
    base = DAY_REGION
    firsts = [base.index(f"2024-01-0{d}|{r}") for d in (1, 2) for r in ("eu", "us", "apac")]
    recorded = {("roll", i): expected("roll", i) for i in firsts}
    us = base.index("2024-01-01|us")
    first, last, count = recorded["roll", us]["base"]
    recorded["roll", us] = {"base": (first - 1, last, count + 1)}
    facts = Facts({}, {}, {}, {}, {}, {}, recorded_ranges=recorded)
    assert _grown_inputs(GRAPH, facts, NOW) == {"roll": Intervals.points([us])}
