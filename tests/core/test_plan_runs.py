"""The plan held as runs: what it says set-wise (runs, reads, source keys, counts) is what
its nodes, made from the runs, say one by one. Hand-built facts, no DuckDB."""

from collections import defaultdict

from hand import DAYS, NOW, day, facts, graph, spec
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import window
from assetflow.core.planner import plan_materialize, select_targets
from assetflow.core.status import compute_status
from assetflow.errors import SelectionError

ASSETS = ("raw", "daily", "rolling", "monthly")
some_days = st.lists(st.integers(1, 10), max_size=4).map(
    lambda found: Intervals.points([day(n) for n in found])
)


@settings(max_examples=60, deadline=None)
@given(
    changed=st.dictionaries(st.sampled_from(ASSETS[:3]), some_days, max_size=3),
    failed=st.dictionaries(st.sampled_from(ASSETS[:3]), some_days, max_size=2),
    selected=st.lists(st.sampled_from(ASSETS), min_size=1, max_size=4, unique=True),
    first=st.integers(1, 10),
    length=st.integers(0, 9),
    batch_size=st.sampled_from([1, 3]),
    force=st.booleans(),
)
def test_the_runs_say_set_wise_what_the_nodes_say_one_by_one(
    changed, failed, selected, first, length, batch_size, force
):
    g = graph(daily=spec("daily", DAYS, ("raw", window()), batch_size=batch_size))
    report = compute_status(g, facts(code_changed=changed, failed=failed), NOW)
    last = min(10, first + length)
    try:
        targets = select_targets(g, selected, f"2024-01-{first:02d}", f"2024-01-{last:02d}", NOW)
    except SelectionError:  # the month alone, in a range inside it
        reject()
    plan = plan_materialize(g, report, targets, NOW, force=force)
    nodes = plan.nodes
    # The runs, one node per partition, in the same order with the same reasons.
    expanded = [
        (r.asset, i, r.reason, r.conditional) for r in plan.runs for i in range(r.first, r.last + 1)
    ]
    assert [(p.node.asset, p.index, p.reason, p.conditional) for p in nodes] == expanded
    assert plan.size == len(nodes)
    assert plan.conditional_count() == sum(p.conditional for p in nodes)
    assert [(a, i) for a, i, _ in plan.conditional_nodes()] == [
        (p.node.asset, p.index) for p in nodes if p.conditional
    ]
    for r in plan.runs:
        parts = g.defs.assets[r.asset].partitions
        assert (r.first_key, r.last_key) == (parts.key(r.first), parts.key(r.last))
    # What the plan reads, set-wise, is the union of what its nodes read.
    read: dict[str, list[int]] = defaultdict(list)
    for p in nodes:
        for rng in p.inputs:
            read[rng.name].extend(rng.indexes())
    assert dict(plan.reads) == {n: Intervals.points(i) for n, i in read.items() if i}
    sources = {rng.name for p in nodes for rng in p.inputs if rng.is_source}
    assert plan.source_keys() == {
        n: sorted({k for p in nodes for r in p.inputs if r.name == n for k in r.keys})
        for n in sorted(sources)
        if read[n]
    }
    # A batched asset's non-conditional nodes are numbered in batches of at most its size.
    batches: dict[int, list[int]] = defaultdict(list)
    for p in nodes:
        if p.batch:
            batches[p.batch].append(p.index)
    for indexes in batches.values():
        assert len(indexes) <= batch_size and indexes == list(range(indexes[0], indexes[-1] + 1))


def test_a_dry_runs_json_lists_runs_and_nodes_only_when_asked():
    g = graph()
    report = compute_status(g, facts(code_changed={"daily": Intervals.points([day(4)])}), NOW)
    targets = select_targets(g, ["rolling"], "2024-01-01", "2024-01-10", NOW)
    plan = plan_materialize(g, report, targets, NOW)
    shown = plan.as_json()
    assert "nodes" not in shown and shown["planned"] == 4
    assert shown["runs"] == [
        {"asset": "daily", "from": "2024-01-04", "to": "2024-01-04", "nodes": 1,
         "reason": "code_changed", "conditional": False},
        {"asset": "rolling", "from": "2024-01-04", "to": "2024-01-06", "nodes": 3,
         "reason": "upstream_stale", "conditional": True},
    ]  # fmt: skip
    detailed = plan.as_json(nodes=True)
    assert [(n["asset"], n["partition"]) for n in detailed["nodes"]] == [
        ("daily", "2024-01-04"),
        ("rolling", "2024-01-04"),
        ("rolling", "2024-01-05"),
        ("rolling", "2024-01-06"),
    ]
