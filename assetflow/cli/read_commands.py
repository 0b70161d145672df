"""Commands that look: status, why, checks, check, observe, lineage, runs, logs."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from assetflow.cli.main import (
    Options,
    _Lazy,
    cli,
    console,
    echo_json,
    json_option,
    session_mod,
    wait_option,
    warehouse_option,
    with_request,
)
from assetflow.core.checks import sql_literal
from assetflow.core.records import RunStatus
from assetflow.errors import ExitCode, SelectionError, UsageError, WarehouseLockedError
from assetflow.run.runlog import log_text

if TYPE_CHECKING:
    from assetflow.app.session import Request, Session

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.columns as columns_app
    import assetflow.app.live as live_app
    import assetflow.app.queries as queries
    import assetflow.app.state as state
else:
    queries = _Lazy("assetflow.app.queries")
    live_app = _Lazy("assetflow.app.live")
    state = _Lazy("assetflow.app.state")
    columns_app = _Lazy("assetflow.app.columns")
RUN_STATUSES = [s.value for s in RunStatus]


@cli.command()
@with_request()
@click.option("--json", "as_json", is_flag=True, help="Print JSON listing every non-fresh node.")
def status(session: Session, request: Request, as_json: bool) -> None:
    """Fresh, stale, missing and failed nodes per asset, with their causes."""
    snap = queries.status(session, request)  # during a run: as of its last commit
    live = live_app.LiveRun.read(session)
    if as_json:
        covered = {"from": request.range_from, "to": request.range_to, "now": snap.now}
        running = {"in_progress": live.in_progress()} if live is not None else {}
        env = {"env": session.project.env}
        echo_json({"range": covered, **env, **state.status_json(snap), **running})
    else:
        if live is not None:
            console.render_live(live)
        span = f"{request.range_from or 'the first partition'}..{request.range_to or 'now'}"
        if session.project.env != "prod":
            span += f" in environment {session.project.env}"
        console.render_status(snap.report, snap.targets, snap.late(), span)


@cli.command()
@click.argument("selection", nargs=-1)
@json_option
@warehouse_option
@click.pass_obj
def assets(opts: Options, selection: tuple[str, ...], as_json: bool, warehouse: str | None) -> None:
    """The assets of SELECTION (default: all): description, partitions, group, what each
    reads, its checks and schedules, and what the warehouse holds of it."""
    with opts.session(warehouse) as session:
        found = queries.assets(session, session_mod.Request(selection))
    if as_json:
        echo_json([dataclasses.asdict(a) for a in found])
    else:
        console.render_assets(found)


@cli.command()
@click.argument("query", required=False)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one block per statement).")
@wait_option
@warehouse_option
@click.pass_obj
def sql(
    opts: Options,
    query: str | None,
    as_json: bool,
    as_csv: bool,
    wait: float,
    warehouse: str | None,
) -> None:
    """Query the warehouse, read-only: QUERY, or statements from standard input (a prompt on
    a terminal). Tables are named for their assets; assetflow's own live in the schema
    `assetflow`. A table shows a result's first 40 rows and counts the rest; --csv and
    --json print every row as it is read."""
    with opts.session(warehouse) as session:
        if query is None and sys.stdin.isatty():
            _shell(session, wait)
            return
        statements = [query] if query else _statements(sys.stdin.read())
        for columns, batches in _sql(session, statements, wait):
            if as_json:
                _stream_json(columns, batches)
            elif as_csv:
                writer = csv.writer(sys.stdout, lineterminator="\n")
                writer.writerow(columns)
                for rows in batches:
                    writer.writerows(rows)
            else:
                console.render_rows(columns, batches)


def _stream_json(columns: list[str], batches: Iterator[list[tuple[Any, ...]]]) -> None:
    """A statement's rows as one JSON list, a row a line, written as they are read."""
    sys.stdout.write("[")
    first = True
    for rows in batches:
        for row in rows:
            record = json.dumps(dict(zip(columns, row, strict=True)), default=str)  # user data
            sys.stdout.write(("\n" if first else ",\n") + record)
            first = False
    sys.stdout.write("\n]\n" if not first else "]\n")


# The prompt's dot commands, as DuckDB's and SQLite's shells have them: a line each.
DOT_HELP = ".tables (the asset tables), .schema TABLE (its columns), .help"


def _statements(text: str) -> list[str]:
    """SQL statements ended by `;`, and dot commands (a line starting with `.`) as the
    statements they stand for, in order."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines(keepends=True):
        if line.strip().startswith(".") and not pending.strip():
            out.append(_dot_command(line.strip()))
            continue
        pending += line
        *done, pending = pending.split(";")
        out += [s.strip() for s in done if s.strip()]
    return out + ([pending.strip()] if pending.strip() else [])


def _dot_command(line: str) -> str:
    name, _, rest = line.partition(" ")
    if name == ".tables":
        return (
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = 'main' ORDER BY 1"
        )
    if name == ".schema" and rest.strip():
        table = rest.strip().rstrip(";").strip('"').replace('"', '""')
        return 'DESCRIBE "' + table + '"'
    if name == ".help":
        return f"SELECT {sql_literal(DOT_HELP)} AS commands"
    raise UsageError(f"unknown command {line!r}", f"the prompt knows {DOT_HELP}")


def _sql(
    session: Session, statements: list[str], wait: float
) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    return queries.run_sql(session, statements, wait)


def _shell(session: Session, wait: float) -> None:
    """Statements typed at a prompt, each ended by `;`; an empty line or Ctrl-D ends it."""
    console.out.print(
        f"read-only SQL on the warehouse; end a statement with ;, Ctrl-D leaves; {DOT_HELP}"
    )
    buffer = ""
    while True:
        try:
            line = input("sql> " if not buffer else "...> ")
        except EOFError:
            return
        buffer += line + "\n"
        if not buffer.strip():
            return
        if buffer.rstrip().endswith(";") or buffer.lstrip().startswith("."):
            try:
                for columns, batches in _sql(session, _statements(buffer), wait):
                    console.render_rows(columns, batches)
            except (UsageError, WarehouseLockedError) as exc:
                console.error(exc)
            finally:  # read through a run: the next statement reads as of then (or the file)
                if session.served:
                    session.close()
            buffer = ""


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
    with opts.session(warehouse) as session:
        reason = queries.why(session, asset, partition)
        unseen = queries.asset_spec(session, asset).unseen
    if as_json:
        echo_json(reason.as_dict())
        return
    console.render_why(reason)
    if unseen:
        console.note(
            f"{asset}'s code version does not see {', '.join(unseen)} (project code outside"
            " definitions/): editing it does not make this asset stale"
        )


@cli.command("checks")
@click.argument("asset", required=False)
@click.option("--failed", is_flag=True, help="Only checks whose latest result failed.")
@json_option
@warehouse_option
@click.pass_obj
def checks_command(
    opts: Options, asset: str | None, failed: bool, as_json: bool, warehouse: str | None
) -> None:
    """The latest result of every check, per node (optionally one ASSET)."""
    with opts.session(warehouse) as session:
        records = queries.list_checks(session, asset, failed)
    if as_json:
        echo_json([dataclasses.asdict(r) for r in records])
    else:
        console.render_checks(records, "no failed checks" if failed else "no check results")


@cli.command("check")
@with_request(selection=False)
@click.argument("asset")
@json_option
@wait_option
def check_command(
    session: Session, request: Request, asset: str, as_json: bool, wait: float
) -> None:
    """Run ASSET's checks on its stored data, without rematerializing. Exit 1 if a blocking
    check fails."""
    checked = queries.check_stored(session, asset, request, wait)
    found = checked.records
    if as_json:  # the records `checks --json` lists: one shape for a check's result
        echo_json([dataclasses.asdict(r) for r in found])
    else:
        console.render_stored_checks(asset, found)
    if not checked.recorded:
        console.note(
            "not recorded: a run holds the warehouse; these ran on what it has committed"
            " (run `assetflow check` after it to record them)"
        )
    failed = any(r.blocking_failure for r in found)
    sys.exit(ExitCode.FAILED if failed else ExitCode.OK)


@cli.command()
@warehouse_option
@wait_option
@click.pass_obj
def observe(opts: Options, warehouse: str | None, wait: float) -> None:
    """Observe every source partition now and record what changed."""
    with opts.session(warehouse) as session:
        console.render_observations(queries.record_observations(session, wait))


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
@click.option(
    "--columns",
    is_flag=True,
    help="Per output column of an SQL asset, the upstream columns it derives from, and the"
    " columns it filters, joins or groups by (read from its SQL with sqlglot).",
)
@json_option
@click.pass_obj
def lineage(
    opts: Options, asset: str, direction: str | None, fmt: str, columns: bool, as_json: bool
) -> None:
    """The asset graph around ASSET: partitioning and mappings, as a tree, DOT or Mermaid;
    with --columns, its column lineage."""
    if columns:
        with opts.session() as session:
            found = columns_app.asset_columns(session, asset)
        if as_json:
            echo_json(found.as_dict())
        else:
            console.render_columns(found)
        return
    graph = opts.session().graph  # opens nothing
    if asset not in graph.upstream:
        raise SelectionError(f"unknown asset {asset!r}", f"assets: {', '.join(graph.order)}")
    up, down = direction in (None, "upstream"), direction in (None, "downstream")
    if fmt == "tree":
        console.render_lineage(graph, asset, up, down)
        return
    names = graph.neighbourhood(asset, up, down)
    click.echo(graph.to_dot(names) if fmt == "dot" else graph.to_mermaid(names))


@cli.group(invoke_without_command=True)
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many runs to show."
)
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs that ended so.")
@click.option("--trigger", help="Only runs started by this trigger (manual, ...).")
@json_option
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
    with opts.session(warehouse) as session:
        records = queries.list_runs(session, limit, status, trigger)
    if as_json:
        echo_json([dataclasses.asdict(r) for r in records])
    else:
        by = f" started by {trigger}" if trigger else ""
        none = f"no {status + ' ' if status else ''}runs{by}" if status or trigger else None
        console.render_runs(records, none or "no runs yet")


@runs.command("show")
@click.argument("run_id")
@json_option
@warehouse_option
@click.pass_obj
def runs_show(opts: Options, run_id: str, as_json: bool, warehouse: str | None) -> None:
    """Every task and attempt of RUN (a unique prefix of its id is enough)."""
    with opts.session(warehouse) as session:
        record, attempts = queries.show_run(session, run_id)
    if as_json:
        payload = {
            "run": dataclasses.asdict(record),
            "attempts": [dataclasses.asdict(a) for a in attempts],
        }
        echo_json(payload)
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
    click.echo(log_text(project.logs_dir, run_id, asset, partition), nl=False)
