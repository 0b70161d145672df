"""Plans, progress, runs, ticks and backfills as people see them."""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assetflow.cli.console.base import err, error, out, ranges, spans_text, status_label
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.planner import Plan
from assetflow.core.records import (
    AttemptRecord,
    NodeResult,
    RunRecord,
    RunResult,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from assetflow.app.live import LiveRun


def _plan_title(plan: Plan) -> str:
    counts = ", ".join(f"{n} {reason}" for reason, n in plan.counts().items())
    return f"Plan: {plan.size} nodes ({counts}); {plan.conditional_count()} conditional"


def plan_size(plan: Plan) -> None:
    err.print(_plan_title(plan))


def render_plan(plan: Plan, graph: AssetGraph) -> None:
    table = Table(title=_plan_title(plan), title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("partitions", overflow="fold")
    table.add_column("nodes", justify="right")
    table.add_column("reason")
    grouped: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for run in plan.runs:
        reason = run.reason + (" (verify first)" if run.conditional else "")
        grouped[(run.asset, reason)].append((run.first, run.last))
    for (asset, reason), spans in grouped.items():
        parts = graph.defs.assets[asset].partitions
        found = Intervals.of(spans)
        table.add_row(asset, spans_text(found, parts), f"{len(found):,}", reason)
    out.print(table)
    for change in plan.shape_changes:
        out.print(f"[cyan]schema:[/] {escape(change)}")
    for problem in plan.problems:
        error(problem)


def backfill_id(found: str) -> None:
    out.print(
        f"backfill {found}: the same command resumes it;"
        f" progress: assetflow backfill status {found}"
    )


def nothing_to_do(fresh: int) -> None:
    out.print(f"[green]nothing to do[/]: all {fresh:,} selected nodes are fresh")


class RunProgress:
    """A progress bar on stderr, started once the plan size is known.

    It writes to the stderr of the moment it starts, not to whatever `sys.stderr` is later:
    during a run that is a stream routing each node thread's prints to its log, and a bar
    drawing through it would not know it is on a terminal. For the same reason it leaves
    stdout and stderr alone (rich would otherwise swap them too)."""

    def __init__(self, label: str = "materialize") -> None:
        self.label = label
        self._bar: Progress | None = None
        self._task: Any = None

    def start(self, plan: Plan) -> None:
        # Imported here: a no-op never shows a bar (rich's progress costs it ~0.01 s).
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self._bar is not None:  # a run that follows the last one (new dynamic keys)
            self._bar.stop()
        console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self._bar = Progress(
            TextColumn(f"[bold]{self.label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("run", total=plan.size, last="")

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
    if len(result.results) > 1:
        table.caption = "task seconds: each node's share of its task's time (tasks overlap)"
    table.add_column("asset", no_wrap=True)
    table.add_column("partitions", overflow="fold")
    for column in ("ok", "verified", "failed", "not run", "rows", "task seconds"):
        table.add_column(column, justify="right")
    for asset, rows in by_asset.items():
        parts = graph.defs.assets[asset].partitions
        ok = [r for r in rows if r.status == "success"]
        table.add_row(
            asset,
            ranges([r.node.partition for r in rows], parts),
            str(len(ok)),
            str(sum(r.status == "verified" for r in rows)),
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
    total, done, verified, failed, skipped = result.counts()
    reused = f" ({result.reused} reused: built elsewhere by the same code)" if result.reused else ""
    out.print(
        f"{status_label(result.status)}: {done} of {total} nodes materialized{reused},"
        f" {verified} verified unchanged, {failed} failed, {skipped} not run"
    )
    for change in result.schema_changes:
        err.print(f"[cyan]schema:[/] {escape(change)}")
    for key_set, keys in result.keys_added.items():
        err.print(f"[cyan]keys:[/] {escape(key_set)} + {escape(', '.join(keys))}")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    passed, warned, blocked = result.checks
    if passed or warned or blocked:
        out.print(f"checks: {passed} passed, {warned} warned, {blocked} failed")


def render_live(live: LiveRun) -> None:
    """The run another process is running, above what a read shows as of its last commit."""
    parts = ", ".join(f"{n} {status}" for status, n in sorted(live.progress.items()))
    out.print(
        f"[yellow]run {live.run_id} in progress[/] (process {live.pid}): {live.done} of"
        f" {live.planned} nodes done{': ' + parts if parts else ''} (as of {live.as_of[11:19]})"
    )
    out.print("what follows is as of its last commit")


def render_run_detail(run: RunRecord, attempts: list[AttemptRecord]) -> None:
    ended = f"{run.ended_at:%Y-%m-%d %H:%M:%S}" if run.ended_at else "-"
    out.print(
        f"[bold]run {run.run_id}[/] {status_label(run.status)} ({run.trigger}), "
        f"{run.started_at:%Y-%m-%d %H:%M:%S} .. {ended}"
    )
    if run.message:
        out.print(f"[red]{escape(run.message)}[/]")
    table = Table(title="Tasks and attempts", title_justify="left")
    for column in ("node", "try", "status", "seconds", "error", "next retry", "log"):
        table.add_column(column, overflow="fold", no_wrap=column in ("node", "status"))
    for a in attempts:
        seconds = (a.ended_at - a.started_at).total_seconds()
        error = f"{a.error_class}: {a.error_message}" if a.error_class else ""
        retry = f"{a.next_retry_at:%H:%M:%S.%f}"[:-3] if a.next_retry_at else ""
        table.add_row(
            f"{a.asset}[{a.partition}]",
            str(a.attempt or ""),
            status_label(a.status),
            f"{seconds:.2f}",
            escape(error),
            retry,
            a.log_path or "",
        )
    out.print(table)


def render_runs(runs: list[RunRecord], none: str = "no runs yet") -> None:
    """`none`: what to say when there is nothing to list."""
    if not runs:
        out.print(none)
        return
    table = Table(title="Runs (most recent first)", title_justify="left")
    table.add_column("run", no_wrap=True)
    table.add_column("trigger")
    envs = any(run.env != "prod" for run in runs)
    if envs:
        table.add_column("env")
    table.add_column("started (UTC)", no_wrap=True)
    for column in ("seconds", "status", "nodes", "ok", "verified", "failed", "not run"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for run in runs:
        seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
        table.add_row(
            run.run_id,
            run.trigger,
            *([run.env] if envs else []),
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if seconds is None else f"{seconds:.1f}",
            status_label(run.status),
            str(run.planned),
            str(run.succeeded),
            str(run.verified),
            str(run.failed),
            str(run.skipped),
        )
    out.print(table)


def render_tick(now: dt.datetime, events: list[Any]) -> None:
    if not events:
        out.print(f"tick {now:%Y-%m-%d %H:%M:%S}: nothing due")
        return
    table = Table(title=f"Tick {now:%Y-%m-%d %H:%M:%S} UTC", title_justify="left")
    for column in ("kind", "name", "what happened", "run", "outcome"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            e.kind,
            e.name,
            escape(e.detail),
            e.run_id or "",
            status_label(e.status) if e.status else "",
        )
    out.print(table)


def render_backfill(progress: Any) -> None:
    span = f"{progress.range_from or 'start'}..{progress.range_to or 'now'}"
    table = Table(title=f"Backfill {progress.backfill_id} ({span})", title_justify="left")
    table.add_column("asset", no_wrap=True)
    for column in ("done", "failed", "remaining"):
        table.add_column(column, overflow="fold")
    for asset, states in progress.by_asset.items():
        parts = progress.snapshot.report.assets[asset].partitions
        cells = []
        for state in ("done", "failed", "remaining"):
            spans = states[state]
            cells.append(f"{len(spans)}: {spans_text(spans, parts)}" if spans else "0")
        table.add_row(asset, *cells)
    out.print(table)
