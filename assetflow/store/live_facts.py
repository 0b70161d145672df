"""The status facts a run's process keeps for the reads it serves (issue: reads during a run).

A status read asks for the facts of every node: a handful of set-wise queries over the
whole lineage (~40 ms on the example's 12,763 nodes), each read anew. While a run records
through the journal (changes.py), the holder keeps each question's facts with the journal's
position they are as of, and brings them up to date with the nodes the run touched since:
those nodes and their readers, read again by the same queries scoped to them (lineage.py's
`facts_of`). A question asked twice between two commits costs no query at all.

The kept facts are read on a cursor of their own. Its snapshot and the asking session's are
begun together under the journal's gate, so that no commit falls between them: whatever
the session asks next (a node's record, for `why`) reads the state its facts are of.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from assetflow.core.environments import Env
from assetflow.core.intervals import Intervals
from assetflow.core.records import Facts
from assetflow.store.changes import Changes, Scope
from assetflow.store.facts import by_column, facts_of, register
from assetflow.store.facts_wire import key_of, to_wire
from assetflow.store.schema import DELTA_ROWS, PENDING_INPUTS_OF, nodes_watermark
from assetflow.store.served import begin_again

KEPT = 4  # questions kept at once (environments, code versions, sources observed)

# A refresh: the nodes the commits since touched...
_SCOPE = """
CREATE OR REPLACE TEMP TABLE _af_scope AS
SELECT asset, unnest(range(lo, hi + 1)) AS idx
FROM (SELECT unnest(?::VARCHAR[]) AS asset, unnest(?::BIGINT[]) AS lo, unnest(?::BIGINT[]) AS hi)
"""
# ...their records and pending inputs brought up to date (the latest materialization per
# node and environment, the inputs of their materializations not parsed yet)...
_TOUCHED = (
    "SEMI JOIN _af_scope s ON s.asset = materializations.asset"
    " AND s.idx = materializations.partition_index"
)
_DELTA_AGAIN = (
    "DELETE FROM _af_delta d USING _af_scope s"
    " WHERE d.asset = s.asset AND d.partition_index = s.idx"
)
_DELTA_OF_SCOPE = f"INSERT INTO _af_delta {DELTA_ROWS.format(only=_TOUCHED)}"
_PENDING_AGAIN = "INSERT INTO _af_pending " + PENDING_INPUTS_OF.format(
    pending="inputs_text IS NOT NULL AND materialization_id > ?"
    " AND (asset, partition_index) IN (SELECT asset, idx FROM _af_scope)"
    " AND materialization_id NOT IN (SELECT materialization_id FROM _af_pending)"
)
# ...and with them, the nodes whose facts a change of theirs can change: the nodes that last
# read one of them (their inputs' versions moved; the parameters: the least and greatest
# index touched, which the inputs' zone maps skip by)...
_READERS = """
INSERT INTO _af_scope
SELECT DISTINCT l.asset, l.idx FROM _af_inputs i
SEMI JOIN _af_scope s ON s.asset = i.input AND s.idx = i.input_index
JOIN _af_latest l ON l.mid = i.materialization_id
WHERE i.input_index BETWEEN ? AND ?
"""
# ...whose records, what they read and those inputs' versions now (rebuilt: they may
# differ from what was read) are copied once: each facts query reads a few rows.
_SUBJECT = """
CREATE OR REPLACE TEMP TABLE _af_subject AS
SELECT * FROM _af_latest SEMI JOIN (SELECT DISTINCT asset, idx FROM _af_scope) USING (asset, idx);
CREATE OR REPLACE TEMP TABLE _af_subject_inputs AS
SELECT i.* FROM _af_inputs i SEMI JOIN _af_subject l ON l.mid = i.materialization_id;
CREATE OR REPLACE TEMP TABLE _af_subject_current AS
SELECT a.asset AS name, a.idx, a.data_version AS version, a.rebuilt FROM _af_all a
SEMI JOIN _af_subject_inputs i ON i.input = a.asset AND i.input_index = a.idx
UNION ALL
SELECT o.source, o.idx, o.version, true FROM _af_observed o
SEMI JOIN _af_subject_inputs i ON i.input = o.source AND i.input_index = o.idx
"""


@dataclass
class _Kept:
    cur: duckdb.DuckDBPyConnection
    facts: Facts | None = None
    position: int = 0
    era: int = -1


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
        self._kept: dict[tuple[Any, ...], _Kept] = {}
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
            kept = self._kept.pop(key, None)
            with self._changes.gate:
                trusted, era, end = self._changes.trusted, self._changes.era, self._changes.end
                _restart(session)
                if trusted:
                    kept = kept or _Kept(self._cursor())
                    _restart(kept.cur)
            if not trusted:  # read whole, on the session itself (its views made so)
                self.close()
                if kept is not None:
                    _close(kept.cur)
                register(session, env, code, runs)
                return to_wire(facts_of(session, env, growing)[0]) | {"views": True}
            assert kept is not None
            self._kept[key] = kept  # the newest last
            kept.facts = self._refresh(kept, env, code, runs, growing, era, end)
            kept.position, kept.era = end, era
            while len(self._kept) > KEPT:
                _close(self._kept.pop(next(iter(self._kept))).cur)
            oldest = min(k.position for k in self._kept.values())
        self._changes.forget(oldest)
        if asked.get("views"):
            register(session, env, code, runs)
        return to_wire(kept.facts) | {"views": bool(asked.get("views"))}

    def _refresh(
        self,
        kept: _Kept,
        env: Env,
        code: dict[str, str],
        runs: list[Any],
        growing: list[str],
        era: int,
        end: int,
    ) -> Facts:
        touched = None  # a new question, or anything may have changed: every node read
        if kept.facts is not None and kept.era == era:
            touched = self._changes.since(kept.position, end)
        if touched == {}:
            return kept.facts  # nothing committed since
        if touched is None:  # (a table made or reshaped: its columns are read again too)
            register(kept.cur, env, code, runs, kept=True)
            return facts_of(kept.cur, env, growing)[0]
        spans = [(asset, lo, hi) for asset, s in sorted(touched.items()) for lo, hi in s.spans]
        cur, watermark = kept.cur, nodes_watermark(kept.cur)
        cur.execute(_SCOPE, by_column(spans, 3))
        cur.execute(_DELTA_AGAIN)
        cur.execute(_DELTA_OF_SCOPE, [watermark])
        cur.execute(_PENDING_AGAIN, [watermark])
        cur.execute(_READERS, [min(lo for _, lo, _ in spans), max(hi for _, _, hi in spans)])
        cur.execute(_SUBJECT)
        found, within = facts_of(kept.cur, env, growing, scoped=True)
        return merged(kept.facts, found, within)

    def close(self) -> None:
        """Drop what is kept (the journal stopped being trusted, or the holder closes)."""
        for kept in self._kept.values():
            _close(kept.cur)
        self._kept.clear()


def merged(old: Facts, new: Facts, within: Scope) -> Facts:
    """`old` with the facts of the nodes `within` replaced by `new`'s."""

    def kind(before: dict[str, Intervals], after: dict[str, Intervals]) -> dict[str, Intervals]:
        out = {}
        for asset in sorted(set(before) | set(after)):
            spans = before.get(asset, Intervals()) - within.get(asset, Intervals())
            spans |= after.get(asset, Intervals())
            if spans:
                out[asset] = spans
        return out

    ranges = {
        node: read
        for node, read in old.recorded_ranges.items()
        if node[1] not in within.get(node[0], Intervals())
    }
    return Facts(
        existing=kind(old.existing, new.existing),
        code_changed=kind(old.code_changed, new.code_changed),
        schema_changed=kind(old.schema_changed, new.schema_changed),
        upstream_changed=kind(old.upstream_changed, new.upstream_changed),
        failed=kind(old.failed, new.failed),
        check_failed=kind(old.check_failed, new.check_failed),
        recorded_ranges=ranges | new.recorded_ranges,
    )


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
    with contextlib.suppress(duckdb.TransactionException):  # none open
        cur.execute("COMMIT")
    cur.execute("BEGIN TRANSACTION READ ONLY")
    cur.execute("SELECT 1 FROM assetflow.meta LIMIT 1").fetchall()


def _close(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.close()
