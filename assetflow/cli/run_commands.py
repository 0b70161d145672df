"""Commands that run nodes or scaffold: materialize, backfill, tick, daemon, init."""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assetflow.cli.main import (
    Options,
    _Lazy,
    ask_above,
    cli,
    concurrency_option,
    console,
    echo_json,
    executor_options,
    json_option,
    session_mod,
    wait_option,
    warehouse_option,
    with_request,
)
from assetflow.core.records import Trigger
from assetflow.errors import AssetflowError, ExitCode, UsageError
from assetflow.run.clock import WallClock

if TYPE_CHECKING:
    from assetflow.app.session import Request, Session
    from assetflow.core.planner import Plan

TICK_WAIT = 300.0  # a tick meeting a run waits for it (cron ticks overlap long runs)
if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.asset_tests as tests_app
    import assetflow.app.materialize as runs
    import assetflow.app.queries as queries
    import assetflow.app.ticks as ticks
else:
    runs = _Lazy("assetflow.app.materialize")
    queries = _Lazy("assetflow.app.queries")
    ticks = _Lazy("assetflow.app.ticks")
    tests_app = _Lazy("assetflow.app.asset_tests")


def dry_run_options(fn: Any) -> Any:
    """--dry-run, --json and --nodes: the plan shown, nothing written."""
    fn = click.option(
        "--nodes",
        "per_node",
        is_flag=True,
        help="With --dry-run --json: every planned node with the partitions it reads (and"
        " for a conditional one, the input versions it was built from), not only the runs.",
    )(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")(
        fn
    )
    return click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")(fn)


@cli.command()
@with_request()
@click.option("--force", is_flag=True, help="Rebuild every selected node, fresh or not.")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild each selected asset's table from empty with the selected partitions, in one"
    " transaction (partitions outside the selection are removed).",
)
@click.option("--no-upstream", is_flag=True, help="Fail instead of adding stale upstream nodes.")
@concurrency_option
@executor_options
@wait_option
@dry_run_options
@click.option(
    "--test",
    "run_tests",
    is_flag=True,
    help="First run the asset tests of the planned assets; a failing one stops here (exit 1).",
)
@click.option(
    "--trigger", default="manual", hidden=True, help="What `runs` says started it (the page: ui)."
)
def materialize(
    session: Session,
    request: Request,
    force: bool,
    full_refresh: bool,
    no_upstream: bool,
    concurrency: int | None,
    executor: str | None,
    scheduler: str | None,
    wait: float,
    dry_run: bool,
    as_json: bool,
    per_node: bool,
    run_tests: bool,
    trigger: str,
) -> None:
    """Make SELECTION fresh: rebuild exactly its stale and missing nodes, upstream first.

    SELECTION is asset names, globs, group:NAME, a state (changed, stale, missing,
    failed: the assets with such a node in the range), +asset (with upstream) and asset+
    (with downstream): `materialize changed+`.
    """
    _dry_run_flags(dry_run, as_json, per_node)
    options = runs.RunOptions(
        dry_run=dry_run, per_node=per_node, force=force, full_refresh=full_refresh,
        upstream=not no_upstream,
        concurrency=concurrency, wait=wait, trigger=Trigger(trigger), executor=executor,
        scheduler=scheduler, release=True,
    )  # fmt: skip
    if run_tests:
        _test_first(session, request, options, quiet=as_json)
    if dry_run:
        _show_plan(session, request, options, as_json)
        return
    _run_with_progress(session, request, options)


def _dry_run_flags(dry_run: bool, as_json: bool, per_node: bool) -> None:
    if as_json and not dry_run:
        raise UsageError("--json goes with --dry-run")
    if per_node and not as_json:
        raise UsageError("--nodes goes with --dry-run --json")


def _test_first(session: Session, request: Request, options: Any, quiet: bool) -> None:
    """--test: the asset tests of what the plan would run; a failing one exits 1 here."""
    plan = runs.materialize(session, request, dataclasses.replace(options, dry_run=True)).plan
    results = tests_app.run_tests_of(session, sorted({r.asset for r in plan.runs}))
    if not quiet or any(not r.passed for r in results):
        console.render_tests(results, ("the planned assets",), to_err=quiet)
    if any(not r.passed for r in results):
        raise click.exceptions.Exit(ExitCode.FAILED)


def _show_plan(session: Session, request: Request, options: Any, as_json: bool) -> None:
    """--dry-run: the plan that would run, written nowhere (exit 2 if it would fail)."""
    outcome = runs.materialize(session, request, options)
    if as_json:
        echo_json(outcome.plan.as_json(nodes=options.per_node))
    elif not outcome.plan.runs:
        console.nothing_to_do(outcome.selected_nodes())
    else:
        console.render_plan(outcome.plan, outcome.graph)
    if outcome.plan.problems:  # the plan is shown; the run would fail those assets
        raise click.exceptions.Exit(ExitCode.USAGE)


def _run_with_progress(
    session: Session, request: Request, options: Any, confirm: Any = None
) -> None:
    """Materialize with a progress bar, then print the summary and exit with its code."""
    with console.RunProgress("backfill" if options.backfill else "materialize") as bar:
        listener = runs.Listener(confirm=confirm, on_plan=bar.start, on_result=bar.advance)
        outcome = runs.materialize(session, request, options, listener)
    result = outcome.result
    if result is None:
        console.nothing_to_do(outcome.selected_nodes())
        return
    counts = result.counts()
    built = counts.materialized + counts.verified
    if result.stopped_by is not None and not built:  # nothing else ran: one line, bad input
        raise result.stopped_by
    console.render_run(result, outcome.graph)
    if outcome.backfill_id:
        console.backfill_id(outcome.backfill_id)
    if result.stopped_by is not None:
        console.error(result.stopped_by)
    later = outcome.then  # runs of the partitions that keys added by the last one made
    while later is not None and later.result is not None:
        console.render_run(later.result, later.graph)
        result, later = later.result, later.then
    sys.exit(result.exit_code)


class DefaultGroup(click.Group):
    """A group whose arguments go to its `default` command unless they name a subcommand:
    `assetflow backfill SELECTION --from ...` and `assetflow backfill status`. Its --help is
    the default command's, whose usage reads as the group's: one form."""

    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default, *args]
        return super().parse_args(ctx, args)


class _AsItsGroup(click.Context):
    """The context of a group's default command, named as the group: its usage line and
    its errors' "Try ... --help" say `assetflow backfill`, the one form the docs use."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent else super().command_path


class DefaultCommand(click.Command):
    """The default command of a DefaultGroup: used (and shown) without its name."""

    context_class = _AsItsGroup


@cli.group(cls=DefaultGroup, default="run")
def backfill() -> None:
    """Backfill a partition range oldest first (`backfill status` shows progress)."""


@backfill.command("run", cls=DefaultCommand)
@with_request()
@click.option("--force", is_flag=True, help="Rebuild fresh nodes too (as --only all).")
@click.option(
    "--only",
    type=click.Choice(["stale", "missing", "failed", "all"]),
    default="stale",
    show_default=True,
    help="Which nodes to run: every one not fresh, only missing, only failed, or all.",
)
@click.option("--yes", is_flag=True, help="Do not ask before a large backfill.")
@concurrency_option
@click.option("--sequential", is_flag=True, help="One node at a time (--concurrency 1).")
@executor_options
@wait_option
@dry_run_options
@click.option(
    "--trigger", default="manual", hidden=True, help="What `runs` says started it (the page: ui)."
)
def backfill_run(
    session: Session,
    request: Request,
    force: bool,
    only: str,
    yes: bool,
    concurrency: int | None,
    sequential: bool,
    executor: str | None,
    scheduler: str | None,
    wait: float,
    dry_run: bool,
    as_json: bool,
    per_node: bool,
    trigger: str,
) -> None:
    """Plan SELECTION over --from..--to with the minimal planner and run it, oldest first.
    Re-running the same command resumes: only what is not fresh runs. It prints the
    backfill's id; `assetflow backfill status [ID]` shows its progress."""
    if request.range_from is None and request.range_to is None:
        raise UsageError("backfill needs a range: --from KEY --to KEY")
    _dry_run_flags(dry_run, as_json, per_node)
    threshold = session.project.settings.backfill_confirm_above

    def confirm(plan: Plan) -> bool:
        console.plan_size(plan)
        n = plan.size
        return ask_above(n, threshold, yes, f"the backfill plans {n:,} nodes",
                         "pass --yes to run it", f"Run {n:,} nodes?")  # fmt: skip

    options = runs.RunOptions(
        force=force, concurrency=1 if sequential else concurrency, wait=wait, backfill=True,
        only=only, trigger=Trigger(trigger), executor=executor, scheduler=scheduler,
        dry_run=dry_run, per_node=per_node, release=True,
    )  # fmt: skip
    if dry_run:
        _show_plan(session, request, options, as_json)
        return
    _run_with_progress(session, request, options, confirm)


@backfill.command("status")
@click.argument("backfill_id", required=False)
@warehouse_option
@json_option
@click.pass_obj
def backfill_status(
    opts: Options, backfill_id: str | None, warehouse: str | None, as_json: bool
) -> None:
    """Done, failed and remaining partitions of a backfill (default: the latest)."""
    with opts.session(warehouse) as session:
        progress = queries.backfill_status(session, backfill_id)
    if as_json:
        echo_json(progress.as_json())
    else:
        console.render_backfill(progress)


@cli.command()
@click.option(
    "--now",
    "now_text",
    metavar="TIMESTAMP",
    help="Tick as if it were this UTC time (the same as the global --now).",
)
@concurrency_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=TICK_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="If a run holds the warehouse, wait up to this long for it.",
)
@json_option
@click.pass_obj
def tick(
    opts: Options, now_text: str | None, concurrency: int | None, wait: float, as_json: bool
) -> None:
    """Evaluate schedules, sensors, eager assets and SLAs once (use --now to fix the time)."""
    opts = opts.at(now_text)
    with opts.session() as session:
        events = ticks.tick(session, concurrency, wait)
    if as_json:
        echo_json([dataclasses.asdict(e) for e in events])
    else:
        console.render_tick(opts.now, events)
    if any(e.error or e.status not in (None, "success") for e in events):
        sys.exit(ExitCode.FAILED)


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
    """Tick every --interval seconds until stopped (SIGTERM or Ctrl-C end it cleanly). Each
    tick is about the wall-clock time it starts at."""
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    project, clock = opts.project(), WallClock()
    console.out.print(f"assetflow daemon: ticking every {interval:g}s; SIGTERM or Ctrl-C stops")
    while not stopping:
        started = clock.monotonic()
        try:
            with session_mod.Session(project, clock) as session:
                events = ticks.tick(session, concurrency, wait=interval)
        except AssetflowError as exc:  # one bad tick (say, a definition error) is not fatal
            console.error(exc)
        else:  # a line per tick, "nothing due" included: the daemon is seen to be alive
            console.render_tick(session.now, events)
        while not stopping and clock.monotonic() - started < interval:
            clock.sleep(min(0.2, interval))
    console.out.print("assetflow daemon: stopped")


@cli.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def init(opts: Options, folder: Path | None) -> None:
    """Scaffold a new project in FOLDER (default: here) that materializes at once."""
    from assetflow.app.scaffold import init_project

    target = folder or opts.project_dir or Path.cwd()
    for path in init_project(target, opts.now.date()):
        console.out.print(f"wrote {path}")
    console.out.print(f"next: cd {target} && assetflow materialize && assetflow status")
