"""Day-two operations: what a wipe removes and removed, what a prune removed."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from assetflow.cli.console.base import err, out, ranges
from assetflow.core.graph import AssetGraph


def wipe_preview(found: Any, graph: AssetGraph) -> None:
    """The partitions a wipe is about to remove (on stderr: the question's context)."""
    for asset, keys in found.partitions.items():
        span = ranges(list(keys), graph.defs.assets[asset].partitions)
        err.print(f"wipe: {escape(asset)} {escape(span)} ({len(keys):,} partitions)")


def wiped(done: Any, graph: AssetGraph) -> None:
    if not done.partitions:
        out.print("nothing to wipe: the selected partitions hold no data")
        return
    for asset, keys in done.partitions.items():
        span = ranges(list(keys), graph.defs.assets[asset].partitions)
        rows = done.rows.get(asset, 0)
        out.print(
            f"wiped {escape(asset)} {escape(span)}: {len(keys):,} partition"
            f"{'' if len(keys) == 1 else 's'}, {rows:,} rows"
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
