"""The command group, its global options, the options commands share, and the one place
where errors become one red line and an exit code.

Time enters here, once: the command's logical now (`--now T`, or the wall clock when it
starts) and the clock that stamps what it records (the wall clock; under `--now`, one on
which retry waits pass at once), handed to the command's Session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assetflow.core.records import json_value
from assetflow.errors import AssetflowError, ExitCode, UsageError
from assetflow.run.clock import Clock, NoWaitClock, WallClock

if TYPE_CHECKING:
    from assetflow.app.config import Project
    from assetflow.app.session import Session


class _Lazy:
    """A module imported on first use: `assetflow --help` stays fast."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        setattr(self, attr, getattr(module, attr))
        return getattr(module, attr)


if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.session as session_mod
    import assetflow.cli.console as console
else:
    console = _Lazy("assetflow.cli.console")
    session_mod = _Lazy("assetflow.app.session")


@dataclasses.dataclass(frozen=True)
class Options:
    project_dir: Path | None
    debug: bool
    now: dt.datetime  # what the command is about: --now, or the wall clock when it started
    clock: Clock  # what stamps its records (see run/clock.py)
    env: str | None = None  # --env / ASSETFLOW_ENV: the environment it works in (None: prod)

    def project(self, warehouse: str | None = None) -> Project:
        from assetflow.app.config import load_project

        return load_project(self.project_dir, warehouse, self.env)

    def session(self, warehouse: str | None = None) -> Session:
        return session_mod.Session(self.project(warehouse), self.clock, self.now)

    def at(self, now_text: str | None) -> Options:
        """These options with a command's own --now (as the global one), if given."""
        if now_text is None:
            return self
        return dataclasses.replace(self, now=parse_now(now_text), clock=NoWaitClock())


class AssetflowGroup(click.Group):
    """Turns every AssetflowError into one red line and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("ASSETFLOW_DEBUG") == "1"
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a reader that went away is found here, not at exit
            return result
        except AssetflowError as exc:
            if debug:
                raise
            if exc.exit_code == ExitCode.OK:  # nothing to do (a selection by state)
                console.out.print(exc.one_line())
            else:
                console.error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`| head`): a quiet exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # what is still buffered goes nowhere
            ctx.exit(ExitCode.OK)
        except Exception as exc:
            if debug:
                raise
            console.error(
                f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for details)"
            )
            ctx.exit(ExitCode.FAILED)


def parse_now(value: str) -> dt.datetime:
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
@click.option(
    "--env",
    "env",
    metavar="NAME",
    envvar="ASSETFLOW_ENV",
    help="Work in this environment (default prod; see `assetflow env`).",
)
@click.version_option(package_name="assetflow")
@click.pass_context
def cli(
    ctx: click.Context, project_dir: Path | None, debug: bool, now_text: str | None, env: str | None
) -> None:
    """assetflow: asset-centric, date-partitioned pipelines on DuckDB."""
    if now_text is None:
        clock: Clock = WallClock()
        now = clock()
    else:
        clock, now = NoWaitClock(), parse_now(now_text)
    ctx.obj = Options(project_dir, debug, now, clock, env or None)


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
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def executor_options(fn: Any) -> Any:
    """--executor and --scheduler: where a run's tasks go (docs/scaleout.md)."""
    fn = click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="With --executor dask: the scheduler, tcp://HOST:8786 (default: scheduler in"
        " [tool.assetflow], else a local cluster).",
    )(fn)
    return click.option(
        "--executor",
        type=click.Choice(["threads", "dask"]),
        help="Run tasks on threads here or on a Dask cluster (default: executor in"
        " [tool.assetflow], threads).",
    )(fn)


def ask_above(count: int, threshold: int, yes: bool, refusal: str, hint: str, ask: str) -> bool:
    """Whether to go on with `count` things (nodes, partitions): yes up to `threshold` or
    with --yes; above, ask on a terminal, and without one refuse in one line."""
    if yes or count <= threshold:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{refusal}, above {threshold:,}", hint)
    return click.confirm(ask, default=False)


def echo_json(payload: object) -> None:
    """`--json` output: indented on a terminal; one line when piped (for jq and programs,
    and the C encoder, several times faster on the millions of nodes status can list).
    Timestamps are ISO 8601 with their zone (UTC)."""
    indent = 2 if sys.stdout.isatty() else None
    click.echo(json.dumps(payload, indent=indent, default=json_value))


def with_request(selection: bool = True) -> Any:
    """Add the selection argument and the range and warehouse options to a command, and hand
    it `session` (open for the command) and `request` instead of those five values."""

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
            with opts.session(warehouse) as session:
                lo, hi = session_mod.resolve_range(session.project, partition, range_from, range_to)
                request = session_mod.Request(tuple(selection), lo, hi)
                return func(session=session, request=request, **kwargs)

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
