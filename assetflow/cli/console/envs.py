"""Environments: the list, a diff against the parent, what a promotion did."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from assetflow.cli.console.base import out, ranges
from assetflow.core.environments import AssetDiff
from assetflow.core.graph import AssetGraph


def render_envs(found: list[Any]) -> None:
    table = Table("environment", "made from", "created", "own nodes")
    for env in found:
        created = env.created_at.strftime("%Y-%m-%d %H:%M UTC") if env.created_at else ""
        table.add_row(escape(env.name), escape(env.parent or ""), created, f"{env.own_nodes:,}")
    out.print(table)


def _span(asset: str, keys: list[str], graph: AssetGraph) -> str:
    spec = graph.defs.assets.get(asset)
    return ranges(keys, spec.partitions) if spec is not None else ", ".join(keys)


def render_diff(name: str, parent: str, diffs: list[AssetDiff], graph: AssetGraph) -> None:
    if not diffs:
        out.print(f"{escape(name)} holds the same data as {escape(parent)}")
        return
    for d in diffs:
        n = len(d.partitions)
        out.print(
            f"[bold]{escape(d.asset)}[/bold] {escape(_span(d.asset, list(d.partitions), graph))}"
            f" ({n:,} partition{'' if n == 1 else 's'} differ): {d.added:,} rows only in"
            f" {escape(name)}, {d.removed:,} only in {escape(parent)}"
            + (f", {d.changed:,} changed by key {', '.join(d.key)}" if d.key else "")
        )
        for kind, title in (("added", f"only in {name}"), ("removed", f"only in {parent}"),
                            ("changed", f"changed ({name}, then {parent})")):  # fmt: skip
            rows = d.samples.get(kind) or ()
            if not rows:
                continue
            table = Table(*d.columns, title=escape(title), title_justify="left")
            for row in rows:
                table.add_row(*(escape("" if v is None else str(v)) for v in row))
            out.print(table)


def render_promotion(done: Any, graph: AssetGraph) -> None:
    if not done.partitions:
        out.print(f"nothing to promote: {escape(done.env)} holds nothing of its own")
        return
    for asset, keys in done.partitions.items():
        out.print(
            f"promoted {escape(asset)} {escape(_span(asset, keys, graph))}"
            f" ({len(keys):,} partition{'' if len(keys) == 1 else 's'})"
        )
    out.print(
        f"{escape(done.target)} holds them now (run {done.run_id}); {escape(done.env)} reads"
        f" them from {escape(done.target)} again"
    )
