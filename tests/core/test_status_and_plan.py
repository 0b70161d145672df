"""Status, the minimal plan and `why` on hand-built facts: pure functions, no DuckDB."""

import pytest
from hand import NOW, day, days, facts, graph

from assetflow.core.explain import explain
from assetflow.core.intervals import Intervals
from assetflow.core.planner import plan_materialize, select_targets
from assetflow.core.records import Cause, InputFact, Node, NodeRecord, NodeState
from assetflow.core.status import compute_status
from assetflow.errors import SelectionError, UpstreamMissingError


def test_a_code_change_is_local_and_its_downstream_window_is_upstream_stale():
    g = graph()
    report = compute_status(g, facts(code_changed={"daily": Intervals.points([day(4)])}), NOW)
    daily, rolling = report.assets["daily"], report.assets["rolling"]
    assert daily.causes(day(4)) == [Cause.CODE_CHANGED]
    assert daily.status(day(4)) == NodeState.STALE
    # rolling reads days d-2..d: the change reaches days 4, 5 and 6, nothing else.
    assert rolling.upstream_stale == days(4, 6)
    assert rolling.causes(day(5)) == [Cause.UPSTREAM_STALE]
    assert report.assets["monthly"].nonfresh  # the month reads every day
    assert not report.assets["raw"].nonfresh
    assert daily.counts(days(1, 10)) == {"fresh": 9, "stale": 1, "missing": 0, "failed": 0}


def test_missing_and_failed_nodes_make_their_readers_upstream_stale():
    existing = {"raw": days(1, 10), "daily": days(1, 8), "rolling": days(1, 10)}
    report = compute_status(
        graph(), facts(existing=existing, failed={"raw": Intervals.points([day(2)])}), NOW
    )
    assert report.assets["raw"].status(day(2)) == NodeState.FAILED
    assert report.assets["daily"].status(day(9)) == NodeState.MISSING
    assert report.assets["daily"].causes(day(2)) == [Cause.UPSTREAM_STALE]
    assert report.assets["monthly"].status(report.assets["monthly"].universe.spans[0][0]) == (
        NodeState.MISSING
    )


def test_the_plan_is_the_stale_closure_in_order_with_conditional_readers():
    g = graph()
    report = compute_status(g, facts(code_changed={"daily": Intervals.points([day(4)])}), NOW)
    targets = select_targets(g, ["rolling"], "2024-01-05", "2024-01-05", NOW)
    plan = plan_materialize(g, report, targets, NOW)
    assert [(str(p.node), p.reason, p.conditional) for p in plan.nodes] == [
        ("daily[2024-01-04]", Cause.CODE_CHANGED, False),
        ("rolling[2024-01-05]", Cause.UPSTREAM_STALE, True),
    ]
    assert plan.nodes[1].inputs[0].keys == ("2024-01-03", "2024-01-04", "2024-01-05")
    index = g.defs.assets["rolling"].partitions.index("2024-01-05")
    assert plan.conditional_nodes() == [("rolling", index, "2024-01-05")]


def test_a_fresh_selection_plans_nothing_unless_forced():
    g = graph()
    report = compute_status(g, facts(), NOW)
    targets = select_targets(g, ["daily"], "2024-01-01", "2024-01-03", NOW)
    assert plan_materialize(g, report, targets, NOW).nodes == ()
    forced = plan_materialize(g, report, targets, NOW, force=True)
    assert [(p.node.partition, p.reason) for p in forced.nodes] == [
        ("2024-01-01", "forced"),
        ("2024-01-02", "forced"),
        ("2024-01-03", "forced"),
    ]


def test_no_upstream_names_what_the_selection_needs():
    g = graph()
    report = compute_status(g, facts(existing={"raw": days(1, 10)}), NOW)
    targets = select_targets(g, ["rolling"], "2024-01-03", "2024-01-03", NOW)
    with pytest.raises(UpstreamMissingError, match=r"daily\[2024-01-01..2024-01-03\]"):
        plan_materialize(g, report, targets, NOW, upstream=False)


def test_contiguous_stale_partitions_of_a_batched_asset_share_batches():
    from hand import DAYS, spec

    from assetflow.core.mapping_kinds import window

    batched = spec("daily", DAYS, ("raw", window()), batch_size=4, partition_by="day")
    g = graph(daily=batched)
    existing = {"raw": days(1, 10), "daily": days(1, 10), "rolling": days(1, 10)}
    stale = {"daily": days(1, 6) | days(8, 9)}
    report = compute_status(g, facts(existing=existing, code_changed=stale), NOW)
    targets = select_targets(g, ["daily"], None, None, NOW)
    plan = plan_materialize(g, report, targets, NOW)
    batches = [p.batch for p in plan.nodes]
    assert batches == [1, 1, 1, 1, 2, 2, 3, 3]  # at most 4 per batch, never across a gap


def test_a_node_whose_own_period_of_an_input_does_not_exist_is_refused_not_built_empty():
    from hand import DAYS, spec

    from assetflow.core.mapping_kinds import window
    from assetflow.core.partitions import daily

    # raw runs two days past its source's last day: built, those days would be empty.
    longer = spec("raw", daily("2024-01-01", "2024-01-12"), ("events", window()))
    g = graph(raw=longer)
    report = compute_status(g, facts(existing={}), NOW)
    targets = select_targets(g, ["raw"], "2024-01-09", None, NOW)
    with pytest.raises(UpstreamMissingError, match=r"raw\[2024-01-11..2024-01-12\] reads events"):
        plan_materialize(g, report, targets, NOW)
    inside = select_targets(g, ["raw"], "2024-01-09", "2024-01-10", NOW)
    assert len(plan_materialize(g, report, inside, NOW).nodes) == 2
    # A window only of earlier days may read nothing: the first day's "yesterday".
    yesterday = spec("rolling", DAYS, ("daily", window(-1, -1)))
    g = graph(rolling=yesterday)
    report = compute_status(g, facts(existing={}), NOW)
    first = select_targets(g, ["rolling"], "2024-01-01", "2024-01-01", NOW)
    assert [p.node.asset for p in plan_materialize(g, report, first, NOW).nodes] == ["rolling"]


def test_a_selection_outside_every_partition_is_an_error():
    with pytest.raises(SelectionError, match="no partitions of daily"):
        select_targets(graph(), ["daily"], "2023-01-01", "2023-01-31", NOW)


def test_why_walks_back_to_the_changed_source_partition():
    g = graph()
    changed = {"raw": Intervals.points([day(3)])}
    report = compute_status(g, facts(upstream_changed=changed), NOW)

    def lookup(node: Node) -> NodeRecord | None:
        if node == Node("raw", "2024-01-03"):
            inputs = (InputFact("events", "2024-01-03", "v1", "v2"),)
            return NodeRecord("run1", "raw-v1", "d1", NOW, inputs)
        return NodeRecord("run1", f"{node.asset}-v1", "d1", NOW, ())

    reason = explain(
        g, report, Node("daily", "2024-01-03"), NOW, lookup, lambda s, k: f"{s} file edited"
    )
    assert reason.chains() == [
        "daily[2024-01-03] stale (upstream_stale) ← raw[2024-01-03] stale (upstream_changed)"
        " ← source events[2024-01-03] changed (events file edited)"
    ]


def test_why_explains_an_upstream_both_changed_and_stale_once():
    """daily[03] read raw[03], which changed since and is stale itself: one branch, one root
    cause (not a second 'see above' line)."""
    g = graph()
    changed = {"raw": Intervals.points([day(3)]), "daily": Intervals.points([day(3)])}
    report = compute_status(g, facts(upstream_changed=changed), NOW)

    def lookup(node: Node) -> NodeRecord | None:
        upstream = {"daily": "raw", "raw": "events"}.get(node.asset)
        inputs = (InputFact(upstream, node.partition, "v1", "v2"),) if upstream else ()
        return NodeRecord("run1", f"{node.asset}-v1", "d1", NOW, inputs)

    reason = explain(g, report, Node("daily", "2024-01-03"), NOW, lookup, lambda s, k: "edited")
    assert reason.label == "stale (upstream_changed, upstream_stale)"
    assert [c.subject for c in reason.children] == ["raw[2024-01-03]"]
    assert reason.chains() == [
        "daily[2024-01-03] stale (upstream_changed, upstream_stale) ← raw[2024-01-03] stale"
        " (upstream_changed) ← source events[2024-01-03] changed (edited)"
    ]


def test_why_leads_with_the_failure_that_blocks_a_node():
    from assetflow.core.records import AttemptRecord, AttemptStatus

    g = graph()
    missing = {"raw": days(1, 10), "daily": days(1, 10), "rolling": days(1, 10)}
    report = compute_status(
        g,
        facts(
            existing={**missing, "daily": days(1, 1) | days(5, 10)},
            failed={"daily": Intervals.points([day(3)])},
        ),
        NOW,
    )

    def lookup(node):
        return NodeRecord("run1", f"{node.asset}-v1", "d1", NOW, ())

    def last_failure(node):
        return AttemptRecord(
            node.asset, node.partition, 0, NOW, NOW, AttemptStatus.FAILED, "DefinitionError",
            "bad SQL", None, None, "r2",
        )  # fmt: skip

    reason = explain(
        g, report, Node("rolling", "2024-01-04"), NOW, lookup, lambda s, k: "", last_failure
    )
    # rolling[04] reads daily 02..04: 02 and 04 are missing, 03 failed — the failure first.
    chains = reason.chains()
    assert chains[0] == (
        "rolling[2024-01-04] stale (upstream_stale) ← daily[2024-01-03] failed"
        " ← run r2 failed (without running: DefinitionError: bad SQL)"
    )
    assert [c.split(" ← ")[1] for c in chains[1:]] == [
        "daily[2024-01-02] missing (never materialized)",
        "daily[2024-01-04] missing (never materialized)",
    ]
