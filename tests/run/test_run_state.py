"""The run's state as plain transitions (run/run_state.py): no thread, clock or store, so
every scheduling rule is checked on a hand-built plan in milliseconds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from hand import NOW, facts, graph  # noqa: E402

from assetflow.core.planner import plan_materialize, select_targets  # noqa: E402
from assetflow.core.records import AttemptStatus, Node, NodeId, NodeResult, RunStatus  # noqa: E402
from assetflow.core.status import compute_status  # noqa: E402
from assetflow.errors import DefinitionError, ExitCode, StorageError  # noqa: E402
from assetflow.run.run_state import RunState  # noqa: E402

SIZES = {"raw": 1, "daily": 1, "rolling": 1, "monthly": 1}


def plan(*assets: str, first: str = "2024-01-01", last: str = "2024-01-03", **kw):
    """A plan rebuilding `assets` (all nodes missing) over first..last."""
    g = graph(**kw)
    report = compute_status(g, facts(existing={}), NOW)
    return plan_materialize(g, report, select_targets(g, list(assets), first, last, NOW), NOW)


def drain(state: RunState) -> list[NodeId]:
    """Pop every ready task, in order."""
    out = []
    while state.ready:
        out.append(state.ready.pop())
    return out


def named(state: RunState, ids: list[NodeId]) -> list[tuple[str, str]]:
    """The nodes as (asset, partition key), for reading."""
    return [(state.planned[i].node.asset, state.planned[i].node.partition) for i in ids]


def at(state: RunState, asset: str, partition: str) -> NodeId:
    """The run's identity of the node asset[partition]."""
    [found] = [i for i, p in state.planned.items() if p.node == Node(asset, partition)]
    return found


def ok(state: RunState, node: NodeId | tuple[str, str]) -> list[NodeId]:
    node = node if isinstance(node, NodeId) else at(state, *node)
    return state.complete(node, NodeResult(state.planned[node].node, AttemptStatus.SUCCESS))


def failed(state: RunState, node: NodeId | tuple[str, str]) -> list[NodeId]:
    node = node if isinstance(node, NodeId) else at(state, *node)
    return state.complete(node, NodeResult(state.planned[node].node, AttemptStatus.FAILED))


def test_a_task_is_ready_once_every_input_it_reads_is_written():
    state = RunState(plan("daily"), SIZES)
    assert named(state, drain(state)) == [
        ("raw", "2024-01-01"), ("raw", "2024-01-02"), ("raw", "2024-01-03")
    ]  # fmt: skip
    ok(state, ("raw", "2024-01-02"))
    assert named(state, drain(state)) == [("daily", "2024-01-02")]
    ok(state, ("raw", "2024-01-01"))
    ok(state, ("raw", "2024-01-03"))
    assert named(state, drain(state)) == [("daily", "2024-01-01"), ("daily", "2024-01-03")]
    assert not state.busy()


def test_a_failure_blocks_everything_downstream_and_nothing_else():
    state = RunState(plan("rolling"), SIZES)
    drain(state)
    blocked = failed(state, ("raw", "2024-01-02"))
    # daily[02] reads raw[02]; rolling[02] and rolling[03] read daily[02] (window -2..0).
    assert named(state, blocked) == [
        ("daily", "2024-01-02"),
        ("rolling", "2024-01-02"),
        ("rolling", "2024-01-03"),
    ]
    assert all(state.results[k].status == AttemptStatus.UPSTREAM_FAILED for k in blocked)
    ok(state, ("raw", "2024-01-01"))
    assert named(state, drain(state)) == [("daily", "2024-01-01")]  # an independent branch goes on
    results, status, code, stopped_by = state.outcome()
    assert status == RunStatus.PARTIAL and code == ExitCode.FAILED and stopped_by is None
    # raw[03], daily[01], daily[03] and rolling[01] never ran
    assert [r.status for r in results].count(AttemptStatus.NOT_RUN) == 4


def test_retries_wait_until_they_are_due():
    state = RunState(plan("raw", last="2024-01-01"), SIZES)
    [lead] = drain(state)
    assert state.take(lead, most=32, workers=2) == [lead] and state.attempts[lead] == 1
    state.retry(lead, due=10.0)
    assert state.busy() and not state.ready
    assert state.until_next_retry(4.0) == 6.0
    state.release_due(9.9)
    assert not state.ready
    state.release_due(10.0)
    assert drain(state) == [lead] and state.until_next_retry(10.0) is None
    assert state.take(lead, most=32, workers=2) == [lead] and state.attempts[lead] == 2


def test_groups_form_once_an_asset_has_a_pace_and_a_failed_group_runs_node_by_node():
    state = RunState(plan("raw", last="2024-01-10"), SIZES)
    first = state.ready.pop()
    assert state.take(first, most=32, workers=1) == [first]  # no pace yet: alone
    state.ran(first, seconds=0.001)
    ok(state, first)
    lead = state.ready.pop()
    group = state.take(lead, most=4, workers=1)
    days = [k for _, k in named(state, group)]
    assert days == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert [p.node.partition for p in state.task(lead)] == days
    third = at(state, "raw", "2024-01-03")
    back = state.ungroup(lead, failed=third)
    assert back == group and third in state.attempts
    assert not any(k in state.attempts for k in group if k != third)
    assert {k for _, k in named(state, drain(state))} >= {"2024-01-02", "2024-01-04", "2024-01-05"}


def test_a_batch_is_one_task_that_waits_for_what_any_of_its_nodes_reads():
    from hand import DAYS, spec

    from assetflow.core.mapping_kinds import window

    batched = spec("daily", DAYS, ("raw", window()), batch_size=10, partition_by="day")
    state = RunState(plan("daily", daily=batched), {**SIZES, "daily": 10})
    raws = drain(state)
    daily_lead = at(state, "daily", "2024-01-01")
    assert [p.node.partition for p in state.task(daily_lead)] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]
    for key in raws[:-1]:
        ok(state, key)
        assert not state.ready  # the batch still waits for raw[03]
    ok(state, raws[-1])
    assert drain(state) == [daily_lead]


def test_a_broken_definition_or_a_full_disk_decides_the_outcome():
    state = RunState(plan("daily", last="2024-01-01"), SIZES)
    lead = drain(state)[0]
    state.failed_with(lead, DefinitionError("bad SQL"))
    failed(state, lead)
    _, status, code, stopped_by = state.outcome()
    assert (status, code, str(stopped_by)) == (RunStatus.FAILED, ExitCode.USAGE, "bad SQL")

    state = RunState(plan("raw", last="2024-01-02"), SIZES)
    first, second = drain(state)
    full = StorageError("no space left on device")
    state.failed_with(first, full)
    failed(state, first)
    assert state.stopped()
    _, status, code, stopped_by = state.outcome()
    assert status == RunStatus.FAILED and stopped_by is full and code == full.exit_code


def test_an_interrupt_leaves_the_rest_not_run():
    state = RunState(plan("daily"), SIZES)
    ok(state, drain(state)[0])
    state.interrupt()
    assert not state.busy() and state.stopped()
    results, status, code, _ = state.outcome()
    assert status == RunStatus.INTERRUPTED and code == ExitCode.INTERRUPTED
    assert [r.status for r in results].count(AttemptStatus.NOT_RUN) == 5


def test_oldest_first_orders_the_ready_tasks_across_assets():
    state = RunState(plan("daily", "rolling"), SIZES, sort_key=lambda p: (p.index, p.node.asset))
    for key in drain(state):
        ok(state, key)
    order = named(state, drain(state))
    assert order == [("daily", "2024-01-01"), ("daily", "2024-01-02"), ("daily", "2024-01-03")]
