"""Everything a person sees: the only module that uses rich."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import AssetflowError
from .executor import NodeResult, RunResult
from .graph import AssetGraph
from .partitions import Partitions, compact_ranges
from .planner import Plan
from .store import RunRecord

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(exc: AssetflowError | str) -> None:
    text = exc.one_line() if isinstance(exc, AssetflowError) else exc
    err.print(f"[bold red]error:[/] {escape(text)}")


def _ranges(keys: list[str], partitions: Partitions) -> str:
    if partitions.unit == "none":
        return "(unpartitioned)"
    return compact_ranges(keys, partitions)


def render_plan(plan: Plan, graph: AssetGraph) -> None:
    table = Table(title=f"Plan: {len(plan.nodes)} nodes", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("partitions", overflow="fold")
    table.add_column("nodes", justify="right")
    table.add_column("reason")
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for planned in plan.nodes:
        grouped[(planned.node.asset, planned.reason)].append(planned.node.partition)
    for (asset, reason), keys in grouped.items():
        parts = graph.defs.assets[asset].partitions
        table.add_row(asset, _ranges(keys, parts), str(len(keys)), reason)
    out.print(table)


class RunProgress:
    """A progress bar on stderr, started once the plan size is known."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None

    def start(self, plan: Plan) -> None:
        self._bar = Progress(
            TextColumn("[bold]materialize"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("run", total=len(plan.nodes), last="")

    def advance(self, result: NodeResult) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, last=str(result.node))

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def render_run(result: RunResult, graph: AssetGraph) -> None:
    by_asset: dict[str, list[NodeResult]] = defaultdict(list)
    for r in result.results:
        by_asset[r.node.asset].append(r)
    table = Table(title=f"Run {result.run_id}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("partitions", overflow="fold")
    for column in ("ok", "failed", "skipped", "rows", "seconds"):
        table.add_column(column, justify="right")
    for asset, rows in by_asset.items():
        parts = graph.defs.assets[asset].partitions
        ok = [r for r in rows if r.status == "success"]
        table.add_row(
            asset,
            _ranges([r.node.partition for r in rows], parts),
            str(len(ok)),
            str(sum(r.status == "failed" for r in rows)),
            str(sum(r.status in ("upstream_failed", "not_run") for r in rows)),
            f"{sum(r.rows or 0 for r in ok):,}",
            f"{sum(r.seconds for r in rows):.2f}",
        )
    out.print(table)
    for r in result.results:
        if r.status == "failed":
            log = f" — log: {r.log_path}" if r.log_path else ""
            err.print(f"[red]failed[/] {escape(str(r.node))}: {escape(r.error or '')}{log}")
    total, ok, failed, skipped = result.counts()
    colour = {"success": "green", "failed": "red"}.get(result.status, "yellow")
    out.print(
        f"[{colour}]{result.status}[/]: {ok} of {total} nodes materialized, "
        f"{failed} failed, {skipped} not run"
    )


def render_runs(runs: list[RunRecord]) -> None:
    if not runs:
        out.print("no runs yet")
        return
    table = Table(title="Runs (most recent first)", title_justify="left")
    table.add_column("run", no_wrap=True)
    table.add_column("trigger")
    table.add_column("started (UTC)", no_wrap=True)
    for column in ("seconds", "status", "nodes", "ok", "failed"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for run in runs:
        seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
        table.add_row(
            run.run_id,
            run.trigger,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if seconds is None else f"{seconds:.1f}",
            run.status,
            str(run.planned),
            str(run.succeeded),
            str(run.failed),
        )
    out.print(table)
