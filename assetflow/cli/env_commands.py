"""`assetflow env`: environments beside production (docs/environments.md)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from assetflow.cli.main import Options, _Lazy, cli, console, echo_json, json_option

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.environments as envs_app
else:
    envs_app = _Lazy("assetflow.app.environments")


def _prod(opts: Options) -> Options:
    """These commands name their environment: the warehouse is opened as prod's."""
    return dataclasses.replace(opts, env=None)


@cli.group("env")
def env_group() -> None:
    """Environments beside prod: try a change, diff it, promote it. Every command works in
    one with --env NAME (or ASSETFLOW_ENV)."""


@env_group.command("create")
@click.argument("name")
@click.option("--from", "parent", default="prod", show_default=True, help="Its parent.")
@click.pass_obj
def env_create(opts: Options, name: str, parent: str) -> None:
    """Make environment NAME: it reads everything from its parent until it builds its own
    partitions. Nothing is copied."""
    with _prod(opts).session() as session:
        made = envs_app.create_env(session, name, parent)
    console.out.print(
        f"created environment {made.name} from {made.parent}; work in it with --env {made.name}"
    )


@env_group.command("list")
@json_option
@click.pass_obj
def env_list(opts: Options, as_json: bool) -> None:
    """The environments, their parents and how many nodes each holds itself."""
    with _prod(opts).session() as session:
        found = envs_app.list_envs(session)
    if as_json:
        echo_json([e.as_json() for e in found])
    else:
        console.render_envs(found)


@env_group.command("diff")
@click.argument("name")
@click.option("--against", metavar="ENV", help="Its parent (the default; the only one).")
@json_option
@click.pass_obj
def env_diff(opts: Options, name: str, against: str | None, as_json: bool) -> None:
    """Per asset, the partitions whose data differs between NAME and its parent (from
    lineage), and their rows only on one side or changed by the asset's key."""
    with _prod(opts).session() as session:
        diffs = envs_app.diff_env(session, name, against)
        store = session.reader()
        parent = store.env.parent if store is not None else "prod"
        if as_json:
            echo_json([d.as_json() for d in diffs])
        else:
            console.render_diff(name, parent or "prod", diffs, session.graph)


@env_group.command("promote")
@click.argument("name")
@click.option("--to", "to", metavar="ENV", help="Its parent (the default; the only one).")
@click.pass_obj
def env_promote(opts: Options, name: str, to: str | None) -> None:
    """Make everything NAME built its parent's, in one transaction: the parent then holds
    NAME's data and lineage for those partitions, and recomputes none of them."""
    with _prod(opts).session() as session:
        done = envs_app.promote_env(session, name, to)
        console.render_promotion(done, session.graph)


@env_group.command("drop")
@click.argument("name")
@click.pass_obj
def env_drop(opts: Options, name: str) -> None:
    """Forget environment NAME and what it built (its runs stay in history)."""
    with _prod(opts).session() as session:
        envs_app.drop_env(session, name)
    console.out.print(f"dropped environment {name}")
