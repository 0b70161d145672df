"""The store's read side: lineage facts for status, `why` and early cutoff.

Part of the store (with store.py): reads assetflow's metadata schema. The status facts'
queries live in facts.py; here, how a command gets them (from the warehouse, or from the
process holding it), a node's record for `why`, and what early cutoff compares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions
from assetflow.core.records import Facts, InputFact, Node, NodeRecord
from assetflow.store.facts import INPUTS, facts_of, latest_views, observed_runs, register
from assetflow.store.facts_wire import question
from assetflow.store.read_session import ServedConnection
from assetflow.store.schema import create_delta
from assetflow.store.store import Store


def read_facts(
    store: Store,
    code: dict[str, str],
    observed: Sequence[SourceVersions],
    growing_assets: list[str],
    records: bool = False,
    within: dict[str, Intervals] | None = None,
) -> Facts:
    """Facts for every node ever materialized, compared with current code and sources.
    `records`: node records (`node_record`) are read next. `within`: the nodes the command
    looks at, if not all (the facts of others may then be of an earlier commit). Read
    through a run's process, the status it keeps answers (live_facts.py), as of a snapshot
    the session then reads too. (Read through a process that lets the file go mid-read,
    the session goes on against the file with its temporary views made again:
    store/read_session.py.)"""
    runs = observed_runs(observed)
    if store.served_by is not None:
        asked = question(store.env.chain, code, runs, growing_assets, records, within)
        found = cast(ServedConnection, store.conn).facts(asked)
        if found is not None:
            facts, made = found
            if not made:  # made if they are read after all
                store.lineage_views = lambda: register(store.conn, store.env, code, runs)
            return facts
    register(store.conn, store.env, code, runs)
    return facts_of(store.conn, store.env, growing_assets)[0]


def node_record(store: Store, asset: str, partition: str) -> NodeRecord | None:
    """Needs read_facts (or register) to have run on this connection."""
    if store.lineage_views is not None:  # the facts came whole from the holder
        store.lineage_views()
        store.lineage_views = None
    rows = store.conn.execute(
        "SELECT m.materialization_id, m.run_id, m.code_version, m.data_version, m.ended_at,"
        " m.table_schema, t.table_schema"
        " FROM assetflow.materializations m JOIN _af_latest l ON m.materialization_id = l.mid"
        " LEFT JOIN _af_tables t ON t.asset = l.asset AND t.env = l.env"
        " WHERE l.asset = ? AND l.partition = ?",
        [asset, partition],
    ).fetchall()
    if not rows:
        return None
    mid, run_id, code_version, data_version, ended_at, written_as, table_now = rows[0]
    inputs = store.conn.execute(
        "SELECT i.input, i.input_partition, i.input_version, c.version"
        " FROM _af_inputs i LEFT JOIN _af_current c"
        " ON c.name = i.input AND c.idx = i.input_index"
        " WHERE i.materialization_id = ? ORDER BY i.input, i.input_partition",
        [mid],
    ).fetchall()
    facts = tuple(InputFact(n, p, r or None, c) for n, p, r, c in inputs)
    return NodeRecord(run_id, code_version, data_version, ended_at, facts, written_as, table_now)


def recorded_inputs(
    store: Store, nodes: list[tuple[str, int, str]]
) -> dict[Node, dict[tuple[str, str], str]]:
    """For early cutoff: the inputs each node (asset, partition index, key) read when it was
    last built, with their versions."""
    if not nodes:
        return {}
    create_delta(store.conn)
    for statement in (INPUTS, latest_views(store.env)):
        store.conn.execute(statement)
    rows = store.conn.execute(
        "WITH wanted AS (SELECT unnest(?) AS asset, unnest(?) AS idx)"
        " SELECT l.asset, l.partition, i.input, i.input_partition, i.input_version"
        " FROM _af_all l SEMI JOIN wanted w USING (asset, idx)"
        " JOIN _af_inputs i ON i.materialization_id = l.mid",
        [[a for a, _, _ in nodes], [i for _, i, _ in nodes]],
    ).fetchall()
    found: dict[tuple[str, str], dict[tuple[str, str], str]] = {(a, k): {} for a, _, k in nodes}
    for asset, partition, name, key, version in rows:
        found[(asset, partition)][(name, key)] = version
    return {Node(*node): inputs for node, inputs in found.items()}


def first_observed(store: Store, source: str, partition: str, version: str) -> dt.datetime | None:
    """When this version of a source partition was first recorded, if ever."""
    rows = store.conn.execute(
        "SELECT min(observed_at) FROM assetflow.observations"
        " WHERE source = ? AND partition = ? AND version = ?",
        [source, partition, version],
    ).fetchall()
    return rows[0][0]
