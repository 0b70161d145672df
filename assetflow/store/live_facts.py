"""The status facts a run's process keeps for the reads it serves (issue: reads during a run).

A status read asks for the facts of every node: a handful of set-wise queries over the
whole lineage (~40 ms on the example's 12,763 nodes), each read anew. While a run records
through the journal (changes.py), the holder keeps each question's facts with the journal's
position they are as of, and brings them up to date with the nodes the run touched since:
those nodes and their readers, read again by the same queries scoped to them
(kept_facts.py). A question asked twice between two commits costs no query at all, nor does
one while the run commits only nodes it does not look at.

The kept facts are read on a cursor of their own. Its snapshot and the asking session's are
begun together under the journal's gate, so that no commit falls between them: whatever
the session asks next (a node's record, for `why`) reads the state its facts are of.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import duckdb

from assetflow.core.environments import Env
from assetflow.store.changes import Changes, Scope
from assetflow.store.facts import by_column, facts_of, register
from assetflow.store.facts_wire import key_of, to_wire, within_of
from assetflow.store.kept_facts import Kept, read_touched, read_whole
from assetflow.store.served import begin_again

KEPT = 4  # questions kept at once (environments, code versions, sources observed, nodes)


class LiveFacts:
    """Answers facts questions (facts_wire.py) for the holder's read sessions."""

    def __init__(
        self,
        changes: Changes,
        cursor: Callable[[], duckdb.DuckDBPyConnection],
        opening: tuple[str, ...] = (),
    ) -> None:
        """`opening`: the queries every read session asks first, answered with it."""
        self._changes = changes
        self._cursor = cursor
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], Kept] = {}
        self._questions = opening
        self._opened: tuple[int, dict[str, Any]] | None = None  # (era, answers)

    def opening(self, session: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        """The opening queries' results ({sql: {"columns", "values"}}), kept while the
        journal is trusted: what they read (the environments) changes only by a write that
        distrusts it first."""
        era, trusted = self._changes.era, self._changes.trusted
        kept = self._opened
        if kept is not None and kept[0] == era and trusted:
            return kept[1]
        answers = {}
        for sql in self._questions:
            try:
                answers[sql] = _small_result(session, sql)
            except duckdb.Error:  # then asked as any query is; the session goes on
                begin_again(session)
        if trusted:
            self._opened = (era, answers)
        return answers

    def answer(self, session: duckdb.DuckDBPyConnection, asked: dict[str, Any]) -> dict[str, Any]:
        """The facts `asked` as of now; `session`'s snapshot restarted at the same state."""
        env, growing = Env(tuple(asked["env"])), list(asked["growing"])
        code, runs = dict(asked["code"]), [tuple(r) for r in asked["observed"]]
        with self._lock:
            key = key_of(asked)
            kept, touched = self._kept.pop(key, None), None
            with self._changes.gate:
                trusted, era, end = self._changes.trusted, self._changes.era, self._changes.end
                _restart(session)
                if trusted:
                    kept = kept or Kept(self._cursor(), within_of(asked))
                    touched = self._touched(kept, era, end)
                    if touched and kept.untouched_by(touched):  # left for later: its facts
                        touched, end = {}, kept.position  # are as of now through them
                    if touched != {}:
                        _restart(kept.cur)
            if not trusted:  # read whole, on the session itself (its views made so)
                self.close()
                if kept is not None:
                    _close(kept.cur)
                register(session, env, code, runs)
                return to_wire(facts_of(session, env, growing)[0]) | {"views": True}
            assert kept is not None
            self._kept[key] = kept  # the newest last
            if touched is None:
                kept.facts = read_whole(kept, env, code, runs, growing)
            elif touched:
                kept.facts = read_touched(kept, env, growing, touched)
            kept.position, kept.era = end, era
            _end(kept.cur)  # an open snapshot would hold the run's old row versions
            while len(self._kept) > KEPT:
                _close(self._kept.pop(next(iter(self._kept))).cur)
            oldest = min(k.position for k in self._kept.values())
        self._changes.forget(oldest)
        if asked.get("views"):
            register(session, env, code, runs)
        assert kept.facts is not None
        return to_wire(kept.facts) | {"views": bool(asked.get("views"))}

    def _touched(self, kept: Kept, era: int, end: int) -> Scope | None:
        """The nodes the commits since touched: None for every node (a new question; or
        the journal was distrusted since, or says anything may have changed)."""
        if kept.facts is None or kept.era != era:
            return None
        return self._changes.since(kept.position, end)

    def close(self) -> None:
        """Drop what is kept (the journal stopped being trusted, or the holder closes)."""
        for kept in self._kept.values():
            _close(kept.cur)
        self._kept.clear()


def _small_result(cur: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """A few rows as the wire's values per column, with their types (served.py)."""
    result = cur.execute(sql)
    types = [[name, str(kind)] for name, kind, *_ in result.description or []]
    return {"columns": types, "values": by_column(result.fetchall(), len(types))}


def _restart(cur: duckdb.DuckDBPyConnection) -> None:
    """A new read-only snapshot, as of now. COMMIT, not ROLLBACK: a read-only transaction
    changed nothing of the warehouse, and its temporary tables and views stay. DuckDB takes
    a transaction's snapshot of a database when a statement first reads it, not at BEGIN:
    one does, here."""
    _end(cur)
    cur.execute("BEGIN TRANSACTION READ ONLY")
    cur.execute("SELECT 1 FROM assetflow.meta LIMIT 1").fetchall()


def _end(cur: duckdb.DuckDBPyConnection) -> None:
    """The read-only transaction ended (its temporary tables stay)."""
    with contextlib.suppress(duckdb.TransactionException):  # none open
        cur.execute("COMMIT")


def _close(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.close()
