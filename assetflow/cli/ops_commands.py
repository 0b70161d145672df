"""Day-two operations: `assetflow wipe`, `repair`, `prune` and `vacuum`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from assetflow.cli.main import (
    Options,
    _Lazy,
    ask_above,
    cli,
    concurrency_option,
    console,
    executor_options,
    wait_option,
    warehouse_option,
    with_request,
)
from assetflow.cli.run_commands import _run_with_progress, runs
from assetflow.core.records import Trigger

if TYPE_CHECKING:
    from assetflow.app.session import Request, Session

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.retention as retention_app
    import assetflow.app.wipe as wipe_app
else:
    wipe_app = _Lazy("assetflow.app.wipe")
    retention_app = _Lazy("assetflow.app.retention")


@cli.command()
@with_request()
@click.option("--yes", is_flag=True, help="Do not ask before wiping many partitions.")
@wait_option
def wipe(session: Session, request: Request, yes: bool, wait: float) -> None:
    """Delete the rows of SELECTION's partitions (--partition, or --from/--to) and record
    them removed, in one transaction: they are missing, their readers stale. Asks before
    more than `wipe_confirm_above` partitions (10)."""
    threshold = session.project.settings.wipe_confirm_above

    def confirm(found: Any) -> bool:
        console.wipe_preview(found, session.graph)
        n = found.count
        return ask_above(n, threshold, yes, f"the wipe removes {n:,} partitions",
                         "pass --yes to wipe them", f"Wipe {n:,} partitions?")  # fmt: skip

    done = wipe_app.wipe(session, request, confirm, wait)
    console.wiped(done, session.graph)


@cli.command()
@with_request()
@concurrency_option
@executor_options
@wait_option
def repair(
    session: Session,
    request: Request,
    concurrency: int | None,
    executor: str | None,
    scheduler: str | None,
    wait: float,
) -> None:
    """Rebuild every failed and missing node of SELECTION (default: every asset) in one
    run, oldest partitions first across assets, with whatever upstream they need that is
    not fresh. Stale nodes that are neither are left for materialize."""
    options = runs.RunOptions(
        concurrency=concurrency,
        wait=wait,
        only="repair",
        trigger=Trigger("repair"),
        executor=executor,
        scheduler=scheduler,
        release=True,
    )
    _run_with_progress(session, request, options)


@cli.command()
@click.option(
    "--retain-hours",
    type=click.IntRange(0),
    default=168,
    show_default=True,
    help="Keep every file a table version of this many past hours reads (at least the"
    " longest run).",
)
@click.option("--dry-run", is_flag=True, help="Count the files; remove nothing.")
@wait_option
@warehouse_option
@click.pass_obj
def vacuum(
    opts: Options, retain_hours: int, dry_run: bool, wait: float, warehouse: str | None
) -> None:
    """storage = "delta": remove the data files that no version of an asset's Delta table
    within --retain-hours reads (overwritten partitions leave their old files behind)."""
    with opts.session(warehouse) as session:
        removed = session.tables.vacuum(session, retain_hours, dry_run, wait)
    console.vacuumed(removed, dry_run)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
@wait_option
@warehouse_option
@click.pass_obj
def prune(opts: Options, dry_run: bool, wait: float, warehouse: str | None) -> None:
    """Remove history the project's [tool.assetflow.retention] no longer keeps: runs,
    attempts, ticks, observations and checks older than history_days, materializations
    beyond the latest keep_materializations per node, log folders older than
    log_retention_days. Never what status, why or early cutoff read. The daemon prunes
    once a day."""
    with opts.session(warehouse) as session:
        removed = retention_app.prune(session, dry_run, wait)
    console.pruned(removed, dry_run)
