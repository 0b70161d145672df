"""Day-two operations: `assetflow wipe` and `assetflow repair`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from assetflow.cli.main import _Lazy, cli, concurrency_option, console, wait_option, with_request
from assetflow.cli.run_commands import _run_with_progress, runs
from assetflow.core.records import Trigger
from assetflow.errors import UsageError

if TYPE_CHECKING:
    from assetflow.app.session import Request, Session

wipe_app: Any = _Lazy("assetflow.app.wipe")


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
        if yes or found.count <= threshold:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                f"the wipe removes {found.count:,} partitions, above {threshold:,}",
                "pass --yes to wipe them",
            )
        return click.confirm(f"Wipe {found.count:,} partitions?", default=False)

    done = wipe_app.wipe(session, request, confirm, wait)
    console.wiped(done, session.graph)


@cli.command()
@with_request()
@concurrency_option
@wait_option
def repair(session: Session, request: Request, concurrency: int | None, wait: float) -> None:
    """Rebuild every failed and missing node of SELECTION (default: every asset) in one
    run, oldest partitions first across assets, with whatever upstream they need that is
    not fresh. Stale nodes that are neither are left for materialize."""
    options = runs.RunOptions(
        concurrency=concurrency, wait=wait, only="repair", trigger=Trigger("repair")
    )
    _run_with_progress(session, request, options)
