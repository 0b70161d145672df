"""Everything a person sees: the only module that uses rich."""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.tree import Tree

from assetflow.core.explain import Reason
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.partitions import Partitions, compact, compact_ranges
from assetflow.core.planner import Plan
from assetflow.core.records import (
    AttemptRecord,
    Cause,
    CheckRecord,
    NodeResult,
    Observation,
    RunRecord,
    RunResult,
)
from assetflow.core.status import AssetStatus, StatusReport
from assetflow.errors import AssetflowError

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(exc: AssetflowError | str) -> None:
    text = exc.one_line() if isinstance(exc, AssetflowError) else exc
    err.print(f"[bold red]error:[/] {escape(text)}")


def _ranges(keys: list[str], partitions: Partitions) -> str:
    if partitions.unit == "none":
        return "(unpartitioned)"
    return compact_ranges(keys, partitions)


def _plan_title(plan: Plan) -> str:
    counts = ", ".join(f"{n} {reason}" for reason, n in plan.counts().items())
    conditional = sum(p.conditional for p in plan.nodes)
    return f"Plan: {len(plan.nodes)} nodes ({counts}); {conditional} conditional"


def plan_size(plan: Plan) -> None:
    err.print(_plan_title(plan))


def render_plan(plan: Plan, graph: AssetGraph) -> None:
    table = Table(title=_plan_title(plan), title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("partitions", overflow="fold")
    table.add_column("nodes", justify="right")
    table.add_column("reason")
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for planned in plan.nodes:
        reason = planned.reason + (" (verify first)" if planned.conditional else "")
        grouped[(planned.node.asset, reason)].append(planned.node.partition)
    for (asset, reason), keys in grouped.items():
        parts = graph.defs.assets[asset].partitions
        table.add_row(asset, _ranges(keys, parts), str(len(keys)), reason)
    out.print(table)


def backfill_id(found: str) -> None:
    out.print(
        f"backfill {found}: the same command resumes it;"
        f" progress: assetflow backfill status {found}"
    )


def nothing_to_do(fresh: int) -> None:
    out.print(f"[green]nothing to do[/]: all {fresh:,} selected nodes are fresh")


def render_status(
    report: StatusReport, targets: dict[str, Intervals], late: dict[str, Intervals], span: str
) -> None:
    table = Table(title=f"Status of {span}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    for column in ("fresh", "stale", "missing", "failed"):
        table.add_column(column, justify="right", no_wrap=True)
    if late:
        table.add_column("late", justify="right", no_wrap=True)
    table.add_column("not fresh: partitions by main cause", overflow="fold")
    for asset, scope in targets.items():
        st = report.assets[asset]
        counts = st.counts(scope)
        nonfresh = st.nonfresh & scope
        detail = "; ".join(
            f"{_ranges([st.partitions.key(i) for i in spans], st.partitions)} [dim]{cause}[/]"
            for cause, spans in _by_main_cause(st, nonfresh)
        )
        cells = [_count(counts[c], c) for c in ("fresh", "stale", "missing", "failed")]
        if late:
            n = len(late.get(asset, Intervals()) & scope)
            cells.append(f"[red]{n:,}[/]" if n else "0")
        table.add_row(asset, *cells, detail)
    out.print(table)


def _by_main_cause(st: AssetStatus, nonfresh: Intervals) -> list[tuple[Cause, Intervals]]:
    """The non-fresh partitions grouped by each one's main cause, set-wise, earliest first."""
    left, out = nonfresh, []
    for cause in Cause.precedence():
        mine = left & getattr(st, cause.value)
        if mine:
            out.append((cause, mine))
            left = left - mine
    return sorted(out, key=lambda found: found[1].spans[0])


def _count(n: int, column: str) -> str:
    colour = {"fresh": "green", "stale": "yellow", "missing": "blue", "failed": "red"}[column]
    return f"[{colour}]{n:,}[/]" if n else "0"


def render_why(reason: Reason) -> None:
    tree = Tree(_why_label(reason))
    _grow(tree, reason)
    out.print(tree)
    if reason.children:
        out.print("[bold]root causes[/]")
        for chain in reason.chains():
            out.print(f"  {escape(chain)}")


def _why_label(reason: Reason) -> str:
    colour = "green" if reason.status == "fresh" else "yellow"
    detail = f" [dim]{escape(reason.detail)}[/]" if reason.detail else ""
    return f"[bold]{escape(reason.subject)}[/] [{colour}]{escape(reason.status)}[/]{detail}"


def _grow(tree: Tree, reason: Reason) -> None:
    for child in reason.children:
        _grow(tree.add(_why_label(child)), child)


def render_lineage(graph: AssetGraph, asset: str, upstream: bool, downstream: bool) -> None:
    def label(name: str, mapping: str | None = None) -> str:
        kind = "source" if name in graph.defs.sources else "asset"
        via = f" [dim]via {mapping}[/]" if mapping else ""
        return f"[bold]{name}[/] [dim]{kind}, {graph.defs.spec(name).partitions.describe()}[/]{via}"

    if upstream:
        tree = Tree(label(asset) + " [dim]reads[/]")
        _upstream_tree(graph, tree, asset, label)
        out.print(tree)
    if downstream:
        tree = Tree(label(asset) + " [dim]is read by[/]")
        _downstream_tree(graph, tree, asset, label)
        out.print(tree)


def _upstream_tree(graph: AssetGraph, tree: Tree, name: str, label: Any) -> None:
    spec = graph.defs.assets.get(name)
    for dep in spec.deps if spec else ():
        _upstream_tree(graph, tree.add(label(dep.name, dep.mapping.describe())), dep.name, label)


def _downstream_tree(graph: AssetGraph, tree: Tree, name: str, label: Any) -> None:
    for down in sorted(graph.graph.successors(name)):
        mapping = next(d.mapping for d in graph.defs.assets[down].deps if d.name == name)
        _downstream_tree(graph, tree.add(label(down, mapping.describe())), down, label)


def render_observations(changed: list[Observation]) -> None:
    if not changed:
        out.print("no source changed since the last observation")
        return
    table = Table(title=f"{len(changed)} source partitions changed", title_justify="left")
    if len(changed) > 20:  # a first observation: one row per source
        table.add_column("source")
        table.add_column("partitions", overflow="fold")
        table.add_column("gone", justify="right")
        by_source: dict[str, list[Observation]] = defaultdict(list)
        for o in changed:
            by_source[o.source].append(o)
        for source, found in by_source.items():
            keys = compact({o.index: o.partition for o in found})
            table.add_row(source, keys, str(sum(o.version is None for o in found)))
        out.print(table)
        return
    for column in ("source", "partition", "version", "where"):
        table.add_column(column)
    for o in changed:
        table.add_row(o.source, o.partition, o.version or "[red]gone[/]", o.detail)
    out.print(table)


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
    for column in ("ok", "verified", "failed", "skipped", "rows", "seconds"):
        table.add_column(column, justify="right")
    for asset, rows in by_asset.items():
        parts = graph.defs.assets[asset].partitions
        ok = [r for r in rows if r.status == "success"]
        table.add_row(
            asset,
            _ranges([r.node.partition for r in rows], parts),
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
    total, ok, verified, failed, skipped = result.counts()
    out.print(
        f"{_status(result.status)}: {ok} of {total} nodes materialized, {verified} verified"
        f" unchanged, {failed} failed, {skipped} not run"
    )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    passed, warned, blocked = result.checks
    if passed or warned or blocked:
        out.print(f"checks: {passed} passed, {warned} warned, {blocked} failed")


_STATUS_COLOUR = {
    "success": "green",
    "verified": "green",
    "partial": "yellow",
    "retrying": "yellow",
    "running": "cyan",
    "failed": "red",
    "upstream_failed": "red",
    "abandoned": "magenta",
    "interrupted": "magenta",
}


def _status(text: str) -> str:
    return f"[{_STATUS_COLOUR.get(text, 'white')}]{text}[/]"


def render_live(live: dict[str, Any], runs: bool = False) -> None:
    """What a read command shows while another process holds the warehouse."""
    done = live.get("progress", {})
    finished = sum(done.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(done.items()))
    as_of = str(live.get("as_of", ""))[11:19]
    out.print(
        f"[yellow]as of {as_of}, run {live['run_id']} in progress[/] (process {live['pid']}): "
        f"{finished} of {live['planned']} nodes done{': ' + parts if parts else ''}"
    )
    if runs:
        render_runs([RunRecord(**_run_fields(r)) for r in live.get("runs", [])])
        return
    table = Table(title="Status when the run started", title_justify="left")
    table.add_column("asset", no_wrap=True)
    for column in ("fresh", "stale", "missing", "failed"):
        table.add_column(column, justify="right")
    for asset in live["status"]["assets"]:
        counts = asset["counts"]
        states = ("fresh", "stale", "missing", "failed")
        table.add_row(asset["asset"], *(_count(counts[c], c) for c in states))
    out.print(table)


def _run_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = dict(row)
    for key in ("started_at", "ended_at"):
        if fields.get(key):
            fields[key] = dt.datetime.fromisoformat(fields[key])
    return fields


def render_checks(records: list[CheckRecord]) -> None:
    if not records:
        out.print("no check results")
        return
    table = Table(title="Checks (latest result per node)", title_justify="left")
    for column in ("node", "check", "severity", "result", "failing rows", "message"):
        table.add_column(column, overflow="fold")
    for r in records:
        result = _check_label(r.passed, r.severity)
        table.add_row(
            f"{r.asset}[{r.partition}]", escape(r.check), r.severity, result,
            str(r.failing_rows), escape(r.message),
        )  # fmt: skip
    out.print(table)


def _check_label(passed: bool, severity: str) -> str:
    if passed:
        return "[green]pass[/]"
    return "[yellow]warn[/]" if severity == "warn" else "[red]FAIL[/]"


def render_stored_checks(asset: str, found: list[Any]) -> None:
    if not found:
        out.print(f"no stored partitions of {asset} in range")
        return
    table = Table(title=f"Checks on stored {asset}", title_justify="left")
    for column in ("partition", "check", "result", "failing rows", "sample"):
        table.add_column(column, overflow="fold")
    for node in found:
        for r in node.results:
            result = _check_label(r.passed, r.severity)
            sample = escape(str(r.samples[0])) if r.samples else ""
            table.add_row(node.partition, escape(r.check), result, str(r.failing_rows), sample)
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
            keys = [parts.key(i) for i in spans]
            cells.append(f"{len(spans)}: {_ranges(keys, parts)}" if spans else "0")
        table.add_row(asset, *cells)
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
            e.kind, e.name, escape(e.detail), e.run_id or "", _status(e.status) if e.status else ""
        )
    out.print(table)


def render_run_detail(run: RunRecord, attempts: list[AttemptRecord]) -> None:
    ended = f"{run.ended_at:%Y-%m-%d %H:%M:%S}" if run.ended_at else "-"
    out.print(
        f"[bold]run {run.run_id}[/] {_status(run.status)} ({run.trigger}), "
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
            _status(a.status),
            f"{seconds:.2f}",
            escape(error),
            retry,
            a.log_path or "",
        )
    out.print(table)


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
            _status(run.status),
            str(run.planned),
            str(run.succeeded),
            str(run.failed),
        )
    out.print(table)
