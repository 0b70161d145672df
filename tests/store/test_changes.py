"""The journal of a run's commits (store/changes.py), the merge of scoped facts into kept
ones and when kept facts need no refresh (store/kept_facts.py), on hand-built values."""

import threading

import pytest

from assetflow.core.intervals import Intervals
from assetflow.core.records import Facts
from assetflow.store.changes import Changes
from assetflow.store.kept_facts import Kept, merged


class Cursor:
    """What `Changes.commit` needs of a cursor: statements, remembered."""

    def __init__(self, fails: bool = False) -> None:
        self.statements: list[str] = []
        self.fails = fails

    def execute(self, sql: str) -> None:
        if self.fails:
            raise RuntimeError("the commit failed")
        self.statements.append(sql)


def test_a_trusted_journal_notes_each_commit_with_its_nodes():
    changes = Changes()
    changes.commit(Cursor(), [("a", 1)])  # not trusted yet: nothing noted
    assert changes.end == 0
    changes.trust()
    cur = Cursor()
    changes.commit(cur, [("a", 1), ("a", 2), ("b", 5)])
    changes.commit(cur, [("a", 7)])
    assert cur.statements == ["COMMIT", "COMMIT"]
    assert changes.end == 2
    assert changes.since(0, 2) == {"a": Intervals.of([(1, 2), (7, 7)]), "b": Intervals.points([5])}
    assert changes.since(1, 2) == {"a": Intervals.points([7])}
    assert changes.since(2, 2) == {}


def test_a_commit_of_anything_or_an_untrusted_write_means_read_everything_again():
    changes = Changes()
    changes.trust()
    changes.commit(Cursor(), [("a", 1)])
    changes.commit(Cursor(), None)  # a table reshaped: anything may have changed
    changes.commit(Cursor(), [("a", 2)])
    assert changes.since(0, 3) is None
    assert changes.since(2, 3) == {"a": Intervals.points([2])}
    era = changes.era
    changes.untrusted()  # a write outside the journal
    assert changes.era == era + 1 and not changes.trusted
    assert changes.since(0, changes.end) is None  # what was noted before is gone


def test_a_failed_commit_notes_nothing_and_the_gate_is_free_again():
    changes = Changes()
    changes.trust()
    with pytest.raises(RuntimeError):
        changes.commit(Cursor(fails=True), [("a", 1)])
    assert changes.end == 0
    assert changes.gate.acquire(blocking=False)
    changes.gate.release()


def test_a_snapshot_taken_under_the_gate_waits_for_a_commit_in_flight():
    changes = Changes()
    changes.trust()
    inside, release = threading.Event(), threading.Event()

    class Slow(Cursor):
        def execute(self, sql: str) -> None:
            inside.set()
            release.wait(5)

    writer = threading.Thread(target=changes.commit, args=(Slow(), [("a", 1)]))
    writer.start()
    inside.wait(5)
    assert not changes.gate.acquire(blocking=False)  # a reader would wait for the commit
    release.set()
    writer.join(5)
    with changes.gate:
        assert changes.end == 1  # and then see it noted


def test_forgetting_keeps_positions_absolute():
    changes = Changes()
    changes.trust()
    for i in range(4):
        changes.commit(Cursor(), [("a", i)])
    changes.forget(3)
    assert changes.end == 4
    assert changes.since(3, 4) == {"a": Intervals.points([3])}
    assert changes.since(2, 4) is None  # forgotten: read everything again


def facts(**kinds) -> Facts:
    empty = Facts.none()
    return Facts(**{**empty.__dict__, **kinds})


def test_merged_replaces_the_facts_of_the_scope_and_keeps_the_rest():
    old = facts(
        existing={"a": Intervals.span(0, 9)},
        upstream_changed={"a": Intervals.of([(2, 3), (8, 8)]), "b": Intervals.points([1])},
        failed={"b": Intervals.points([4])},
        recorded_ranges={("a", 2): {"x": (0, 2, 3)}, ("a", 8): {"x": (6, 8, 3)}},
    )
    scope = {"a": Intervals.span(2, 3), "b": Intervals.span(4, 4)}
    new = facts(
        existing={"a": Intervals.span(2, 3), "b": Intervals.points([4])},
        recorded_ranges={("a", 2): {"x": (1, 2, 2)}},
    )
    found = merged(old, new, scope)
    assert found.existing == {"a": Intervals.span(0, 9), "b": Intervals.points([4])}
    assert found.upstream_changed == {"a": Intervals.points([8]), "b": Intervals.points([1])}
    assert found.failed == {}  # b's 4 was in the scope: no longer failed
    assert found.recorded_ranges == {("a", 2): {"x": (1, 2, 2)}, ("a", 8): {"x": (6, 8, 3)}}


def test_a_question_needs_no_refresh_only_when_nothing_it_looks_at_or_reads_was_touched():
    january, february = Intervals.of([(1, 31)]), Intervals.of([(32, 59)])
    kept = Kept(cur=None, within={"daily": january})  # type: ignore[arg-type]
    kept.near = {"daily": january, "raw": Intervals.of([(0, 31)])}  # and what it read
    assert kept.untouched_by({"daily": february, "raw": february})
    assert kept.untouched_by({"other": january})
    assert not kept.untouched_by({"raw": Intervals.of([(0, 0)])})  # a day it read
    assert not kept.untouched_by({"daily": Intervals.of([(31, 32)])})
    kept.near = None  # what it reads not known: any commit may change it
    assert not kept.untouched_by({"other": january})
