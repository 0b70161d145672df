"""One question's status facts, kept on a cursor of its own and brought up to date with
the nodes a run's commits touched (live_facts.py serves them; changes.py tells the nodes).

A refresh reads again the touched nodes and the nodes that last read one of them, by the
same queries as a whole read (facts.py) scoped to them, and merges the result in. What
every node's latest record read (`_af_reads`) is copied once per question when the
recorded inputs are few enough, and kept up to date with the nodes the run rebuilds, so
that a refresh reads rows bounded by the nodes rather than by every build's inputs.

A question says which nodes its command looks at (`within`: the targets and what they
read, upstream). Their facts can change only by a commit that touches one of them or one
of what they last read (`near`): while the run commits elsewhere, a question costs no
query at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from assetflow.core.environments import Env
from assetflow.core.intervals import Intervals, span_rows
from assetflow.core.records import Facts
from assetflow.store.changes import Scope
from assetflow.store.facts import by_column, facts_of, islands, register
from assetflow.store.schema import DELTA_ROWS, PENDING_INPUTS_OF, nodes_watermark

COPIED_READS = 1_000_000  # recorded inputs up to which what the latest records read is copied

# What every node's latest record read: its rows of _af_inputs with the node. A question
# reads it all once; a copy (when the recorded inputs are few enough) is then brought up to
# date with the nodes the run rebuilds, and what a refresh reads of it is bounded by the
# nodes, not by the recorded history (every build's inputs).
_READS = """
CREATE OR REPLACE TEMP {kind} _af_reads AS
SELECT l.asset, l.idx, i.* FROM _af_inputs i JOIN _af_latest l ON l.mid = i.materialization_id
"""

# A refresh: the nodes the commits since touched...
_NODES = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT asset, unnest(range(lo, hi + 1)) AS idx
FROM (SELECT unnest(?::VARCHAR[]) AS asset, unnest(?::BIGINT[]) AS lo, unnest(?::BIGINT[]) AS hi)
"""
# ...their records brought up to date (the latest materialization per node and environment)
# and what they read, if their latest record is new (its inputs, still in inputs_text)...
_TOUCHED = (
    "SEMI JOIN _af_scope s ON s.asset = materializations.asset"
    " AND s.idx = materializations.partition_index"
)
_DELTA_AGAIN = (
    "DELETE FROM _af_delta d USING _af_scope s"
    " WHERE d.asset = s.asset AND d.partition_index = s.idx"
)
_DELTA_OF_SCOPE = f"INSERT INTO _af_delta {DELTA_ROWS.format(only=_TOUCHED)}"
_RENEWED = """
CREATE OR REPLACE TEMP TABLE _af_renewed AS
SELECT asset, idx, mid FROM _af_latest SEMI JOIN _af_scope USING (asset, idx)
ANTI JOIN (SELECT DISTINCT asset, idx, materialization_id AS mid FROM _af_reads)
     USING (asset, idx, mid)
"""
_READS_AGAIN = (
    "DELETE FROM _af_reads r USING _af_renewed n WHERE r.asset = n.asset AND r.idx = n.idx"
)
_READS_OF_RENEWED = (
    "INSERT INTO _af_reads BY NAME SELECT n.asset, n.idx, p.* FROM ({}) p"
    " JOIN _af_renewed n ON n.mid = p.materialization_id".format(
        PENDING_INPUTS_OF.format(
            pending="inputs_text IS NOT NULL AND materialization_id > ?"
            " AND materialization_id IN (SELECT mid FROM _af_renewed)"
        )
    )
)
# ...and with them, the nodes whose facts a change of theirs can change: the nodes that last
# read one of them (their inputs' versions moved; the parameters: the least and greatest
# index touched, which the inputs' zone maps skip by)...
_READERS = """
INSERT INTO _af_scope
SELECT DISTINCT r.asset, r.idx FROM _af_reads r
SEMI JOIN _af_scope s ON s.asset = r.input AND s.idx = r.input_index
WHERE r.input_index BETWEEN ? AND ?
"""
# ...whose records, what they read and those inputs' versions now (rebuilt: they may
# differ from what was read) are copied once: each facts query reads a few rows.
_SUBJECT = """
CREATE OR REPLACE TEMP TABLE _af_subject AS
SELECT * FROM _af_latest SEMI JOIN (SELECT DISTINCT asset, idx FROM _af_scope) USING (asset, idx);
CREATE OR REPLACE TEMP TABLE _af_subject_inputs AS
SELECT materialization_id, input, input_partition, input_index, input_version FROM _af_reads
SEMI JOIN (SELECT DISTINCT asset, idx FROM _af_scope) USING (asset, idx);
CREATE OR REPLACE TEMP TABLE _af_subject_current AS
SELECT a.asset AS name, a.idx, a.data_version AS version, a.rebuilt FROM _af_all a
SEMI JOIN _af_subject_inputs i ON i.input = a.asset AND i.input_index = a.idx
UNION ALL
SELECT o.source, o.idx, o.version, true FROM _af_observed o
SEMI JOIN _af_subject_inputs i ON i.input = o.source AND i.input_index = o.idx
"""


NEAR_NODES = 200_000  # nodes looked at up to which what they read is known (else: anything)
_NEAR = (
    "SELECT input AS asset, input_index AS idx FROM _af_reads"
    " SEMI JOIN _af_within USING (asset, idx)"
)


@dataclass
class Kept:
    """A question's facts as of the journal's `position` (in `era`), on `cur`."""

    cur: duckdb.DuckDBPyConnection
    within: Scope | None  # the nodes the question's command looks at (None: every node)
    facts: Facts | None = None
    position: int = 0
    era: int = -1
    copied: bool = False  # _af_reads is a table kept up to date (else a view)
    near: Scope | None = None  # within, and what they read (None: not known)

    def untouched_by(self, touched: Scope) -> bool:
        """Whether the nodes the question looks at keep their facts through commits that
        touched `touched`: none of them, nor anything they read, is among those."""
        return self.near is not None and not _meet(touched, self.near)


def read_whole(kept: Kept, env: Env, code: dict[str, str], runs: list, growing: list[str]) -> Facts:
    """Every node's facts read anew (a new question; or anything may have changed: a table
    made or reshaped, whose columns are read again too)."""
    cur = kept.cur
    register(cur, env, code, runs)
    (recorded,) = cur.execute("SELECT count(*) FROM assetflow.inputs").fetchall()[0]
    kept.copied = recorded <= COPIED_READS
    cur.execute(_READS.format(kind="TABLE" if kept.copied else "VIEW"))
    facts = facts_of(cur, env, growing)[0]
    kept.near = None
    within = kept.within
    if kept.copied and within is not None and sum(map(len, within.values())) <= NEAR_NODES:
        _nodes(cur, "_af_within", within)
        _learn_near(kept)
    return facts


def read_touched(kept: Kept, env: Env, growing: list[str], touched: Scope) -> Facts:
    """The facts brought up to date with the nodes `touched` since they were read."""
    assert kept.facts is not None
    cur, watermark = kept.cur, nodes_watermark(kept.cur)
    spans = _nodes(cur, "_af_scope", touched)
    cur.execute(_DELTA_AGAIN)
    cur.execute(_DELTA_OF_SCOPE, [watermark])
    if kept.copied:
        cur.execute(_RENEWED)
        cur.execute(_READS_AGAIN)
        cur.execute(_READS_OF_RENEWED, [watermark])
    cur.execute(_READERS, [min(lo for _, lo, _ in spans), max(hi for _, _, hi in spans)])
    cur.execute(_SUBJECT)
    found, read = facts_of(cur, env, growing, scoped=True)
    if kept.near is not None and _meet(touched, kept.within or {}):
        _learn_near(kept)  # nodes it looks at were rebuilt: what they read may differ
    return merged(kept.facts, found, read)


def _meet(a: Scope, b: Scope) -> bool:
    """Whether the two sets of nodes have one in common."""
    return any(a[asset] & b[asset] for asset in a if asset in b)


def _learn_near(kept: Kept) -> None:
    found = islands(kept.cur, {"near": _NEAR})["near"]
    near = dict(kept.within or {})
    for asset, more in found.items():
        near[asset] = near.get(asset, Intervals()) | more
    kept.near = near


def _nodes(cur: duckdb.DuckDBPyConnection, table: str, nodes: Scope) -> list[tuple[str, int, int]]:
    """The temporary table `table` of `nodes` (asset, idx); their spans."""
    spans = span_rows(nodes)
    cur.execute(_NODES.format(table=table), by_column(spans, 3))
    return spans


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
