"""The run recorder on a tmp_path warehouse: each event of a run leaves what it should —
an attempt that wrote nothing, a failed attempt's check results (a successful write records
its own), the tallies, a group's one log file and the failure's lines in it."""

import datetime as dt

from assetflow.core.definitions import validate
from assetflow.core.planner import PlannedNode
from assetflow.core.records import AttemptStatus, CheckResult, Node
from assetflow.run.alerts import Deliveries
from assetflow.run.clock import FixedClock
from assetflow.run.recorder import RunRecorder, Unwritten
from assetflow.run.task import TaskResult
from assetflow.store.store import Store

T = dt.datetime(2024, 3, 1, 12, 0)
A, B = ("orders", "2024-03-01"), ("orders", "2024-03-02")
NODE_A = PlannedNode(Node(*A), 0, "missing", False, ())
NODE_B = PlannedNode(Node(*B), 1, "missing", False, ())


def recorder(tmp_path):
    store = Store.open(tmp_path / "warehouse.duckdb")
    store.start_run("r1", "manual", "{}", T, 1, 2)
    logs = tmp_path / "logs"
    return store, RunRecorder(validate([]), store, FixedClock(T), "r1", logs, Deliveries())


def test_an_attempt_that_wrote_nothing_is_recorded_with_its_log_once_written(tmp_path):
    store, record = recorder(tmp_path)
    record.settled([NODE_A], [NODE_A], Unwritten(AttemptStatus.UPSTREAM_FAILED))
    done = TaskResult({}, ValueError("bad row"), "Traceback ...\n", 0.1, logged=False)
    log = record.failure_log([NODE_A], 1, done)
    log.close()
    failed = Unwritten(AttemptStatus.FAILED, 1, T, T, done.error)
    record.settled([NODE_A], [NODE_A], failed)
    first, second = store.attempts_of("r1")
    assert (first.status, first.log_path) == (AttemptStatus.UPSTREAM_FAILED, None)
    assert (second.status, second.error_class, second.attempt) == (
        AttemptStatus.FAILED, "ValueError", 1,
    )  # fmt: skip
    assert second.log_path == str(record.log_path([NODE_A]))
    assert "Traceback ..." in record.log_path([NODE_A]).read_text()
    store.close()


def test_failed_checks_are_recorded_and_every_check_is_counted(tmp_path):
    store, record = recorder(tmp_path)
    ok = CheckResult("not_null_id", "error", True, 0, "ok", (), A)
    bad = CheckResult("unique_id", "error", False, 2, "2 duplicates", (), A)
    warn = CheckResult("fresh", "warn", False, 1, "late", (), B)
    record.checked([(("orders", A[1], 0), None, (ok, bad))], failed=True)
    record.checked([(("orders", B[1], 1), None, (warn,))], failed=False)
    assert record.check_counts == [1, 1, 1]
    stored = {(c.partition, c.check, c.passed) for c in store.list_checks(None, False)}
    assert stored == {(A[1], "not_null_id", True), (A[1], "unique_id", False)}
    store.close()


def test_a_group_logs_to_one_file_until_it_is_split(tmp_path):
    store, record = recorder(tmp_path)
    record.grouped([NODE_A, NODE_B])
    assert record.log_path([NODE_A]) == record.log_path([NODE_B])
    assert record.log_path([NODE_A]).name.startswith("2024-03-01")
    record.group_failed([NODE_A, NODE_B], "Traceback (group)\n", 2)
    assert "run again one by one" in record.log_path([NODE_A]).read_text()
    record.ungrouped([NODE_A, NODE_B])
    assert record.log_path([NODE_B]) != record.log_path([NODE_A])
    done = TaskResult(
        {}, None, "", 0.1, True, reshaped="orders: + note", keys_added=(("c", ("x",)),)
    )
    record.wrote(done)
    assert (record.reshaped, record.keys_added) == (["orders: + note"], {"c": ["x"]})
    assert record.alerts.close(1.0) == []  # no alert was sent: nothing to await
    store.close()
