"""A run's OpenLineage events, when `[tool.assetflow.openlineage]` asks for them."""

from __future__ import annotations

import contextlib

from assetflow.app.columns import column_lineage_of
from assetflow.app.session import Session
from assetflow.core.sql_lineage import ColumnLineage
from assetflow.run.openlineage import LineageEvents, make_client
from assetflow.store.store import Store


def lineage_events(session: Session, store: Store, run_id: str) -> LineageEvents | None:
    """The run's event sender; None when the project sends none."""
    settings = session.project.settings.openlineage
    if settings is None:
        return None
    client = make_client(settings.model_dump(), session.project.root)
    namespace = settings.namespace or f"assetflow/{session.project.root.name}"

    def columns(asset: str) -> dict[str, str]:
        """The asset table's columns now (read on the run's own thread)."""
        return store.table_columns(asset)

    known: dict[str, ColumnLineage | None] = {}

    def lineage(asset: str) -> ColumnLineage | None:
        """An SQL asset's column lineage, read once per run (None: a Python asset, or SQL
        that cannot be read)."""
        if asset not in known:
            known[asset] = None
            if session.graph.defs.assets[asset].returns_sql:
                with contextlib.suppress(Exception):
                    known[asset] = column_lineage_of(session, store, asset)
        return known[asset]

    return LineageEvents(
        client, namespace, str(session.project.warehouse_path), run_id, session.graph.defs,
        columns, session.clock, lineage,
    )  # fmt: skip
