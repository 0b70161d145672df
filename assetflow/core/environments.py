"""Environments: production and the environments made beside it, as data.

An environment holds, per node, either a partition of its own or its parent's, whatever the
parent holds now (an overlay, resolved per node: the nearest environment of the chain that
holds the node wins). `prod` is the root: a project that names no environment works in it.
An environment's own rows live in the schema `_env_NAME`; the schema `NAME` holds a view per
asset, its rows over its parent's, which is what its runs read and what a user queries.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from assetflow.errors import EnvError

PROD = "prod"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_RESERVED = {PROD, "main", "assetflow", "temp", "system", "information_schema", "pg_catalog"}


@dataclass(frozen=True)
class Environment:
    """One environment as recorded: its name, its parent, when it was made."""

    name: str
    parent: str
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Env:
    """The environment a command works in, with the chain of environments it reads through:
    itself first, `prod` last."""

    chain: tuple[str, ...] = (PROD,)

    @property
    def name(self) -> str:
        return self.chain[0]

    @property
    def parent(self) -> str | None:
        return self.chain[1] if len(self.chain) > 1 else None

    @property
    def is_prod(self) -> bool:
        return self.name == PROD

    @property
    def data_schema(self) -> str:
        """Where its own rows live (prod's: `main`, as before environments)."""
        return data_schema(self.name)

    @property
    def read_schema(self) -> str:
        """Where its tables are read: its own rows over its parent's."""
        return read_schema(self.name)


def data_schema(name: str) -> str:
    return "main" if name == PROD else f"_env_{name}"


def read_schema(name: str) -> str:
    return "main" if name == PROD else name


def table_name(asset: str, env: str) -> str:
    """The Delta table holding `env`'s own partitions of `asset`, as a path under the
    storage's root: prod's is the asset's name, an environment's `_env_NAME/ASSET` (as its
    rows in the warehouse file live in the schema `_env_NAME`)."""
    return asset if env == PROD else f"{data_schema(env)}/{asset}"


def split_table(name: str) -> tuple[str, str]:
    """(schema, asset) of a table name: where the warehouse's view of it lives."""
    schema, _, asset = name.rpartition("/")
    return schema or "main", asset


def chain_of(name: str, environments: dict[str, Environment]) -> Env:
    """The chain from `name` up to prod; an unknown name is one line naming the known."""
    if name == PROD:
        return Env()
    chain = [name]
    while chain[-1] != PROD:
        found = environments.get(chain[-1])
        if found is None:
            known = ", ".join([PROD, *sorted(environments)])
            raise EnvError(
                f"there is no environment {chain[-1]}",
                f"create it: assetflow env create {chain[-1]}; environments: {known}",
            )
        chain.append(found.parent)
    return Env(tuple(chain))


def check_new_name(name: str, environments: dict[str, Environment]) -> None:
    """A name a new environment may take."""
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise EnvError(
            f"{name!r} cannot name an environment",
            "use lowercase letters, digits and _, starting with a letter (not prod or main)",
        )
    if name in environments:
        raise EnvError(f"environment {name} exists already", "drop it first, or pick another name")


def children(name: str, environments: dict[str, Environment]) -> list[str]:
    """The environments made from `name`."""
    return sorted(e.name for e in environments.values() if e.parent == name)


@dataclass(frozen=True)
class Wanted:
    """An asset to compare rows of: the partitions whose data versions differ, its key."""

    asset: str
    partitions: tuple[str, ...]
    key: tuple[str, ...]


@dataclass(frozen=True)
class AssetDiff:
    """How one asset's data differs between two environments: the partitions whose data
    versions differ (from lineage), then, over those only, rows held only by the
    environment (`added`), only by the other (`removed`), and rows whose declared key is on
    both sides with other values (`changed`); up to a few samples of each."""

    asset: str
    partitions: tuple[str, ...]
    columns: tuple[str, ...]
    added: int
    removed: int
    changed: int
    samples: dict[str, tuple[tuple[object, ...], ...]]  # kind -> rows (changed: new, old)
    key: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "asset": self.asset,
            "partitions": list(self.partitions),
            "key": list(self.key),
            "columns": list(self.columns),
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "samples": {kind: [list(r) for r in rows] for kind, rows in self.samples.items()},
        }
