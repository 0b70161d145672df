"""The command line: parses, calls the library, renders. Errors become one red line here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assetflow.app.scaffold import init_project
from assetflow.core.partitions import compact_ranges
from assetflow.errors import AssetflowError, SelectionError, UsageError, WarehouseLockedError
from assetflow.run.clock import WALL, Clock, NoWaitClock, utc_now
from assetflow.run.runlog import find_logs

if TYPE_CHECKING:
    from assetflow.app.config import Project


class _Lazy:
    """A module imported on first use: `assetflow --help` stays fast."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        setattr(self, attr, getattr(module, attr))
        return getattr(module, attr)


api: Any = _Lazy("assetflow.app.api")
console: Any = _Lazy("assetflow.cli.console")
ticks: Any = _Lazy("assetflow.app.ticks")


@dataclasses.dataclass(frozen=True)
class Options:
    project_dir: Path | None
    debug: bool
    now: dt.datetime
    clock: Clock  # under --now, retry waits pass at once

    def project(self, warehouse: str | None = None) -> Project:
        from assetflow.app.config import load_project

        return load_project(self.project_dir, warehouse)

    def request(
        self,
        warehouse: str | None,
        selection: tuple[str, ...],
        partition: str | None,
        range_from: str | None,
        range_to: str | None,
    ) -> tuple[Project, api.Request]:
        """The project and what a command's selection and range options ask for."""
        project = self.project(warehouse)
        lo, hi = api.resolve_range(project, partition, range_from, range_to)
        return project, api.Request(tuple(selection), lo, hi)


class AssetflowGroup(click.Group):
    """Turns every AssetflowError into one red line and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("ASSETFLOW_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except AssetflowError as exc:
            if debug:
                raise
            console.error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            console.error(
                f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for details)"
            )
            ctx.exit(1)


def _parse_now(value: str | None) -> dt.datetime:
    if value is None:
        return utc_now()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO timestamp", param_hint="--now") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


@click.group(cls=AssetflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder (default: nearest with [tool.assetflow] in pyproject.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--now",
    "now_text",
    metavar="TIMESTAMP",
    help="Pretend it is this UTC time; retry waits then pass at once.",
)
@click.version_option(package_name="assetflow")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None, debug: bool, now_text: str | None) -> None:
    """assetflow: asset-centric, date-partitioned pipelines on DuckDB."""
    now = _parse_now(now_text)
    ctx.obj = Options(project_dir, debug, now, WALL if now_text is None else NoWaitClock())


warehouse_option = click.option(
    "--warehouse", metavar="PATH", help="DuckDB file (default from [tool.assetflow])."
)


wait_option = click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0,
    metavar="SECONDS",
    help="If another process holds the warehouse, wait up to this long for it.",
)
concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Nodes run at once (default: concurrency in [tool.assetflow], 2).",
)


def with_request(selection: bool = True) -> Any:
    """Add the selection argument and the range and warehouse options to a command, and hand
    it `project` and `request` (an api.Request) instead of those five values."""

    def decorate(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(
            *,
            partition: str | None,
            range_from: str | None,
            range_to: str | None,
            warehouse: str | None,
            selection: tuple[str, ...] = (),
            **kwargs: Any,
        ) -> Any:
            opts: Options = click.get_current_context().obj
            project, request = opts.request(warehouse, selection, partition, range_from, range_to)
            return func(project=project, request=request, **kwargs)

        wrapped = click.option(
            "--to", "range_to", metavar="KEY", help="Last partition (inclusive)."
        )(wrapper)
        wrapped = click.option("--from", "range_from", metavar="KEY", help="First partition.")(
            wrapped
        )
        wrapped = click.option(
            "--partition", metavar="KEY", help="One partition, e.g. 2013-01-15 or 2013-01."
        )(wrapped)
        wrapped = warehouse_option(wrapped)
        if selection:
            wrapped = click.argument("selection", nargs=-1)(wrapped)
        return wrapped

    return decorate


@cli.command()
@with_request()
@click.option("--force", is_flag=True, help="Rebuild every selected node, fresh or not.")
@click.option("--no-upstream", is_flag=True, help="Fail instead of adding stale upstream nodes.")
@concurrency_option
@wait_option
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@click.pass_obj
def materialize(
    opts: Options,
    project: Project,
    request: api.Request,
    force: bool,
    no_upstream: bool,
    concurrency: int | None,
    wait: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Make SELECTION fresh: rebuild exactly its stale and missing nodes, upstream first.

    SELECTION is asset names, globs, group:NAME, +asset (with upstream) and asset+
    (with downstream).
    """
    if as_json and not dry_run:
        raise UsageError("--json goes with --dry-run")
    flags = {"force": force, "upstream": not no_upstream, "wait": wait}
    if dry_run:
        outcome = api.materialize(project, request, opts.now, dry_run=True, **flags)
        if as_json:
            nodes = [
                {"asset": p.node.asset, "partition": p.node.partition, "reason": p.reason}
                for p in outcome.plan.nodes
            ]
            click.echo(json.dumps({"nodes": nodes}, indent=2))
        else:
            console.render_plan(outcome.plan, outcome.graph)
        return
    _run_with_progress(opts, project, request, concurrency=concurrency, **flags)


def _run_with_progress(
    opts: Options, project: Project, request: api.Request, **options: Any
) -> None:
    """Materialize with a progress bar, then print the summary and exit with its code."""
    with console.RunProgress() as bar:
        outcome = api.materialize(
            project,
            request,
            opts.now,
            clock=opts.clock,
            on_plan=bar.start,
            on_result=bar.advance,
            **options,
        )
    _finish_run(outcome)


def _finish_run(outcome: api.Outcome) -> None:
    """The summary of a run and its exit code (0 only for success)."""
    result = outcome.result
    if result is None:
        console.nothing_to_do(outcome.selected_nodes())
        return
    if result.stopped_by is not None:  # a definition mistake: one line, like any bad input
        raise result.stopped_by
    console.render_run(result, outcome.graph)
    sys.exit(result.exit_code)


@cli.command()
@with_request()
@click.option("--json", "as_json", is_flag=True, help="Print JSON listing every non-fresh node.")
@click.pass_obj
def status(opts: Options, project: Project, request: api.Request, as_json: bool) -> None:
    """Fresh, stale, missing and failed nodes per asset, with their causes."""
    try:
        snap = api.status(project, request, opts.now)
    except WarehouseLockedError as locked:
        live = _live_or_raise(project, locked)
        if as_json:
            click.echo(json.dumps({"in_progress": _progress(live), **live["status"]}, indent=2))
        else:
            console.render_live(live)
        return
    if as_json:
        click.echo(json.dumps(api.status_json(snap), indent=2))
    else:
        console.render_status(snap.report, snap.targets, snap.late())


def _live_or_raise(project: Project, locked: WarehouseLockedError) -> dict[str, Any]:
    """The running writer's snapshot; the lock error itself when there is none."""
    live = api.live_snapshot(project)
    if live is None:
        raise locked
    return live


def _progress(live: dict[str, Any]) -> dict[str, Any]:
    keys = ("run_id", "pid", "started_at", "as_of", "planned", "progress")
    return {k: live.get(k) for k in keys}


@cli.command()
@click.argument("asset")
@click.argument("partition", required=False)
@warehouse_option
@click.option("--json", "as_json", is_flag=True, help="Print the cause tree as JSON.")
@click.pass_obj
def why(
    opts: Options, asset: str, partition: str | None, warehouse: str | None, as_json: bool
) -> None:
    """Why ASSET[PARTITION] is not fresh, back to the root causes."""
    project = opts.project(warehouse)
    reason = api.why(project, asset, partition, opts.now)
    if as_json:
        click.echo(json.dumps(reason.as_dict(), indent=2))
        return
    console.render_why(reason)


class DefaultGroup(click.Group):
    """A group whose arguments go to its `default` command unless they name a subcommand:
    `assetflow backfill SELECTION --from ...` and `assetflow backfill status`."""

    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@cli.group(cls=DefaultGroup, default="run")
def backfill() -> None:
    """Backfill a partition range oldest first (`backfill status` shows progress)."""


@backfill.command("run")
@with_request()
@click.option("--force", is_flag=True, help="Rebuild fresh nodes too.")
@click.option("--yes", is_flag=True, help="Do not ask before a large backfill.")
@concurrency_option
@click.option("--sequential", is_flag=True, help="One node at a time (--concurrency 1).")
@wait_option
@click.pass_obj
def backfill_run(
    opts: Options,
    project: Project,
    request: api.Request,
    force: bool,
    yes: bool,
    concurrency: int | None,
    sequential: bool,
    wait: float,
) -> None:
    """Plan SELECTION over --from..--to with the minimal planner and run it, oldest first.
    Re-running the same command resumes: only what is not fresh runs."""
    if request.range_from is None and request.range_to is None:
        raise UsageError("backfill needs a range: --from KEY --to KEY")
    threshold = project.settings.backfill_confirm_above

    def confirm(plan: api.Plan) -> bool:
        console.plan_size(plan)
        if yes or len(plan.nodes) <= threshold:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                f"the backfill plans {len(plan.nodes):,} nodes, above {threshold:,}",
                "pass --yes to run it",
            )
        return click.confirm(f"Run {len(plan.nodes):,} nodes?", default=False)

    _run_with_progress(
        opts,
        project,
        request,
        force=force,
        concurrency=1 if sequential else concurrency,
        wait=wait,
        backfill=True,
        confirm=confirm,
    )


@backfill.command("status")
@click.argument("backfill_id", required=False)
@warehouse_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def backfill_status(
    opts: Options, backfill_id: str | None, warehouse: str | None, as_json: bool
) -> None:
    """Done, failed and remaining partitions of a backfill (default: the latest)."""
    progress = api.backfill_status(opts.project(warehouse), backfill_id, opts.now)
    if as_json:
        payload = {
            "backfill_id": progress.backfill_id,
            "from": progress.range_from,
            "to": progress.range_to,
            "assets": {
                asset: {
                    state: compact_ranges(
                        [progress.snapshot.report.assets[asset].partitions.key(i) for i in spans],
                        progress.snapshot.report.assets[asset].partitions,
                    )
                    for state, spans in states.items()
                }
                for asset, states in progress.by_asset.items()
            },
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        console.render_backfill(progress)


@cli.command()
@concurrency_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def tick(opts: Options, concurrency: int | None, as_json: bool) -> None:
    """Evaluate schedules, sensors, eager assets and SLAs once (use --now to fix the time)."""
    events = ticks.tick(opts.project(), opts.now, concurrency, opts.clock)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(e) for e in events], indent=2))
    else:
        console.render_tick(opts.now, events)
    if any(e.status not in (None, "success") for e in events):
        sys.exit(1)


@cli.command()
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between ticks.",
)
@concurrency_option
@click.pass_obj
def daemon(opts: Options, interval: float, concurrency: int | None) -> None:
    """Tick every --interval seconds until stopped (SIGTERM or Ctrl-C end it cleanly)."""
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    project = opts.project()
    console.out.print(f"assetflow daemon: ticking every {interval:g}s; SIGTERM or Ctrl-C stops")
    while not stopping:
        started = time.monotonic()
        try:
            events = ticks.tick(project, utc_now(), concurrency)
        except AssetflowError as exc:  # one bad tick (say, a definition error) is not fatal
            console.error(exc)
        else:
            if events:
                console.render_tick(utc_now(), events)
        while not stopping and time.monotonic() - started < interval:
            time.sleep(min(0.2, interval))
    console.out.print("assetflow daemon: stopped")


@cli.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def init(opts: Options, folder: Path | None) -> None:
    """Scaffold a new project in FOLDER (default: here) that materializes at once."""
    target = folder or opts.project_dir or Path.cwd()
    for path in init_project(target, opts.now.date()):
        console.out.print(f"wrote {path}")
    console.out.print(f"next: cd {target} && assetflow materialize && assetflow status")


@cli.command("checks")
@click.argument("asset", required=False)
@click.option("--failed", is_flag=True, help="Only checks whose latest result failed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@warehouse_option
@click.pass_obj
def checks_command(
    opts: Options, asset: str | None, failed: bool, as_json: bool, warehouse: str | None
) -> None:
    """The latest result of every check, per node (optionally one ASSET)."""
    records = api.list_checks(opts.project(warehouse), asset, failed)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in records], indent=2, default=str))
    else:
        console.render_checks(records)


@cli.command("check")
@with_request(selection=False)
@click.argument("asset")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def check_command(
    opts: Options, project: Project, request: api.Request, asset: str, as_json: bool
) -> None:
    """Run ASSET's checks on its stored data, without rematerializing. Exit 1 if a blocking
    check fails."""
    found = api.check_stored(project, asset, request, opts.now)
    if as_json:
        payload = [
            {"partition": n.partition, "results": [dataclasses.asdict(r) for r in n.results]}
            for n in found
        ]
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        console.render_stored_checks(asset, found)
    failed = any(r.blocking_failure for n in found for r in n.results)
    sys.exit(1 if failed else 0)


@cli.command()
@warehouse_option
@click.pass_obj
def observe(opts: Options, warehouse: str | None) -> None:
    """Observe every source partition now and record what changed."""
    console.render_observations(api.record_observations(opts.project(warehouse), opts.now))


@cli.command()
@click.argument("asset")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what ASSET reads.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what reads it.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "mermaid"]),
    default="tree",
    show_default=True,
    help="A rich tree, or text for Graphviz or Mermaid.",
)
@click.pass_obj
def lineage(opts: Options, asset: str, direction: str | None, fmt: str) -> None:
    """The asset graph around ASSET: partitioning and mappings, as a tree, DOT or Mermaid."""
    graph = api.load_graph(opts.project())
    if asset not in graph.graph:
        raise SelectionError(f"unknown asset {asset!r}", f"assets: {', '.join(graph.order)}")
    up, down = direction in (None, "upstream"), direction in (None, "downstream")
    if fmt == "tree":
        console.render_lineage(graph, asset, up, down)
        return
    names = graph.neighbourhood(asset, up, down)
    click.echo(graph.to_dot(names) if fmt == "dot" else graph.to_mermaid(names))


@cli.group(invoke_without_command=True)
@click.option("--limit", default=20, show_default=True, help="How many runs to show.")
@click.option(
    "--status",
    type=click.Choice(["running", "success", "partial", "failed", "interrupted", "abandoned"]),
    help="Only runs that ended so.",
)
@click.option("--trigger", help="Only runs started by this trigger (manual, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@warehouse_option
@click.pass_context
def runs(
    ctx: click.Context,
    limit: int,
    status: str | None,
    trigger: str | None,
    as_json: bool,
    warehouse: str | None,
) -> None:
    """List recent runs, most recent first; `runs show RUN` for one run's tasks."""
    if ctx.invoked_subcommand is not None:
        return
    opts: Options = ctx.obj
    project = opts.project(warehouse)
    try:
        records = api.list_runs(project, limit, status, trigger)
    except WarehouseLockedError as locked:
        live = _live_or_raise(project, locked)
        if as_json:
            click.echo(json.dumps({"in_progress": _progress(live), "runs": live["runs"]}))
        else:
            console.render_live(live, runs=True)
        return
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in records], indent=2, default=str))
    else:
        console.render_runs(records)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@warehouse_option
@click.pass_obj
def runs_show(opts: Options, run_id: str, as_json: bool, warehouse: str | None) -> None:
    """Every task and attempt of RUN (a unique prefix of its id is enough)."""
    record, attempts = api.show_run(opts.project(warehouse), run_id)
    if as_json:
        payload = {
            "run": dataclasses.asdict(record),
            "attempts": [dataclasses.asdict(a) for a in attempts],
        }
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        console.render_run_detail(record, attempts)


@cli.command()
@click.argument("run_id")
@click.argument("asset", required=False)
@click.argument("partition", required=False)
@warehouse_option
@click.pass_obj
def logs(
    opts: Options, run_id: str, asset: str | None, partition: str | None, warehouse: str | None
) -> None:
    """Print the log files of RUN, or of one ASSET or node. Reads files only: works while
    another process holds the warehouse."""
    project = opts.project(warehouse)
    for path in find_logs(project.logs_dir, run_id, asset, partition):
        click.echo(f"==> {path.relative_to(project.logs_dir)} <==")
        click.echo(path.read_text(encoding="utf-8"), nl=False)


def main() -> None:
    cli(prog_name="assetflow")
