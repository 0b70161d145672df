"""`assetflow partitions add|remove|list`: dynamic partitions' key sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from assetflow.cli.main import Options, _Lazy, cli, console, echo_json, json_option, wait_option

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.keys as keys_app
else:
    keys_app = _Lazy("assetflow.app.keys")


@cli.group()
def partitions() -> None:
    """Dynamic partitions: the keys of a key set declared with dynamic("NAME")."""


@partitions.command("add")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@wait_option
@click.pass_obj
def add(opts: Options, name: str, keys: tuple[str, ...], wait: float) -> None:
    """Add KEYS to the key set NAME: their partitions appear, missing until materialized."""
    with opts.session() as session:
        done = keys_app.change(session, name, list(keys), add=True, wait=wait)
    console.keys_changed(done, added=True)


@partitions.command("remove")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@wait_option
@click.pass_obj
def remove(opts: Options, name: str, keys: tuple[str, ...], wait: float) -> None:
    """Remove KEYS from the key set NAME: their partitions leave status and plans (their rows
    stay in the tables until wiped; adding a key again brings its lineage back)."""
    with opts.session() as session:
        done = keys_app.change(session, name, list(keys), add=False, wait=wait)
    console.keys_changed(done, added=False)


@partitions.command("list")
@click.argument("name", required=False)
@json_option
@click.pass_obj
def list_keys(opts: Options, name: str | None, as_json: bool) -> None:
    """The keys of every key set (or of NAME), in the order they were added."""
    with opts.session() as session:
        found = keys_app.listing(session, name)
    if as_json:
        echo_json(found)
    else:
        console.key_sets(found)
