"""Column lineage of SQL assets (`assetflow lineage ASSET --columns`), and the readers a
removed column will break (the dry run)."""

from __future__ import annotations

from dataclasses import dataclass

from assetflow.app.queries import asset_spec
from assetflow.app.session import Session
from assetflow.core.planner import PlannedNode
from assetflow.core.records import Node
from assetflow.core.sql_lineage import ColumnLineage, column_lineage, tables_read
from assetflow.errors import UsageError
from assetflow.run.compute import Preview
from assetflow.store.store import Store


@dataclass(frozen=True)
class AssetColumns:
    asset: str
    partition: str  # the partition whose SQL was read (the latest)
    lineage: ColumnLineage
    unread: tuple[str, ...]  # declared dependencies its SQL never reads

    def as_dict(self) -> dict[str, object]:
        return {"asset": self.asset, "partition": self.partition, **self.lineage.as_dict(),
                "declared_not_read": list(self.unread)}  # fmt: skip


def asset_columns(session: Session, asset: str) -> AssetColumns:
    """The column lineage of an SQL asset, read from its SQL for its latest partition."""
    spec = asset_spec(session, asset)
    if not spec.returns_sql:
        raise UsageError(
            f"asset {asset} is computed in Python: column lineage is read from SQL assets"
            " (a function that only returns SQL text)"
        )
    store = session.reader()
    if store is None:
        raise UsageError("no warehouse yet: materialize first, so the tables' columns are known")
    return _columns(session, store, asset)


def _columns(session: Session, store: Store, asset: str) -> AssetColumns:
    graph, spec = session.graph, session.graph.defs.assets[asset]
    universe = spec.partitions.universe(session.now)
    if not universe:
        raise UsageError(f"asset {asset} has no partitions yet")
    index = universe.spans[-1][1]
    node = Node(asset, spec.partitions.key(index))
    planned = PlannedNode(
        node, index, "preview", False, tuple(graph.inputs_at(asset, index, session.now))
    )
    preview = Preview(
        spec, store.cursor(), graph.defs, session.project.root, planned, session.now.date(),
        store.env.read_schema, store.env.name,
    )  # fmt: skip
    sql, schema = preview.sql(), preview.input_columns()
    found = column_lineage(sql, schema)
    read = set(tables_read(sql))  # as the run's check reads it: `count(*)` reads a table
    unread = tuple(d.name for d in spec.deps if d.as_param and d.name not in read)
    return AssetColumns(asset, node.partition, found, unread)


def broken_readers(session: Session, store: Store, asset: str, removed: list[str]) -> list[str]:
    """The SQL assets reading `asset` whose SQL uses one of its `removed` columns: they
    will fail once it no longer returns them. One line each."""
    lines = []
    for reader in session.graph.order:
        spec = session.graph.defs.assets[reader]
        if not spec.returns_sql or asset not in {d.name for d in spec.deps}:
            continue
        try:
            found = _columns(session, store, reader).lineage
        except Exception:  # noqa: BLE001 - a preview only: the run itself reports any mistake
            continue
        used = {c for t, c in found.filters if t == asset} | {
            c for _, sources in found.outputs for t, c in sources if t == asset
        }
        gone = [c for c in removed if c in used]
        if gone:
            lines.append(
                f"{reader} reads {', '.join(gone)} of {asset}, which it will no longer return:"
                f" {reader} will fail until it stops reading {'it' if len(gone) == 1 else 'them'}"
            )
    return lines


def column_lineage_of(session: Session, store: Store, asset: str) -> ColumnLineage:
    """An SQL asset's column lineage over the tables as they are (OpenLineage facets)."""
    return _columns(session, store, asset).lineage
