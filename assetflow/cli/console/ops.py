"""Day-two operations: what a wipe removes and removed, what a prune removed, an SQL
asset's column lineage."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from assetflow.cli.console.base import err, out, ranges
from assetflow.core.graph import AssetGraph


def _spans(found: Any, graph: AssetGraph) -> list[tuple[str, str, int]]:
    """Per asset of a wipe: its name, its partitions as compact ranges, how many."""
    return [
        (asset, ranges(list(keys), graph.defs.assets[asset].partitions), len(keys))
        for asset, keys in found.partitions.items()
    ]


def wipe_preview(found: Any, graph: AssetGraph) -> None:
    """The partitions a wipe is about to remove (on stderr: the question's context)."""
    for asset, span, n in _spans(found, graph):
        err.print(f"wipe: {escape(asset)} {escape(span)} ({n:,} partition{'' if n == 1 else 's'})")


def wiped(done: Any, graph: AssetGraph) -> None:
    if not done.partitions:
        out.print("nothing to wipe: the selected partitions hold no data")
        return
    for asset, span, n in _spans(done, graph):
        rows = done.rows.get(asset, 0)
        out.print(
            f"wiped {escape(asset)} {escape(span)}: {n:,} partition"
            f"{'' if n == 1 else 's'}, {rows:,} rows"
        )
    then = f"; their readers are stale: {', '.join(done.readers)}" if done.readers else ""
    out.print(
        f"they are missing{escape(then)} (run {done.run_id}); `assetflow materialize`"
        " rebuilds what is selected"
    )


def pruned(removed: dict[str, int], dry_run: bool) -> None:
    table = Table(title="Would remove" if dry_run else "Removed", title_justify="left")
    table.add_column("what", no_wrap=True)
    table.add_column("rows", justify="right")
    for what, n in removed.items():
        if what == "log folders" and dry_run:
            continue
        table.add_row(escape(what), f"{n:,}")
    out.print(table)


def vacuumed(removed: dict[str, int], dry_run: bool) -> None:
    """`assetflow vacuum`: files removed (or that would be) per asset's Delta table."""
    total = sum(removed.values())
    if not total:
        out.print("nothing to vacuum: every file is read by a version within the retention")
        return
    table = Table(title="Would remove" if dry_run else "Removed", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("files", justify="right")
    for asset, n in removed.items():
        if n:
            table.add_row(escape(asset), f"{n:,}")
    out.print(table)


def render_columns(found: Any) -> None:
    """`lineage ASSET --columns`: output columns and what they derive from; filter columns."""
    table = Table(title=f"{found.asset}: columns (from its SQL for {found.partition})",
                  title_justify="left")  # fmt: skip
    table.add_column("column", no_wrap=True)
    table.add_column("derives from", overflow="fold")
    for name, sources in found.lineage.outputs:
        text = ", ".join(f"{t}.{c}" for t, c in sources) or "(no column: a constant or count)"
        table.add_row(escape(name), escape(text))
    out.print(table)
    only = set(found.lineage.filter_only())
    if found.lineage.filters:
        used = [f"{t}.{c}" + (" (only to filter)" if (t, c) in only else "")
                for t, c in found.lineage.filters]  # fmt: skip
        out.print("filters, joins, groups by: " + escape(", ".join(used)))
    if found.unread:
        err.print(f"[yellow]declared but never read:[/] {escape(', '.join(found.unread))}")
