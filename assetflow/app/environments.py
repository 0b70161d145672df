"""`assetflow env`: environments beside production — made from one (no data copied), listed,
compared with their parent, promoted into it, dropped.

Which environment the other commands work in is the project's (`--env`, ASSETFLOW_ENV);
these commands name theirs, and open the warehouse as prod's.
"""

from __future__ import annotations

from dataclasses import dataclass

from assetflow.app.materialize import new_run_id
from assetflow.app.session import Session
from assetflow.core.environments import PROD, AssetDiff, Environment, Wanted, chain_of
from assetflow.errors import EnvError
from assetflow.store.store import Store

SAMPLES = 5  # rows of each kind `env diff` shows per asset


@dataclass(frozen=True)
class EnvInfo:
    """An environment as `env list` shows it: its record and how many nodes it holds."""

    name: str
    parent: str | None  # None: prod
    created_at: object
    own_nodes: int

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "parent": self.parent,
            "created_at": self.created_at,
            "own_nodes": self.own_nodes,
        }


@dataclass(frozen=True)
class Promotion:
    """What `env promote` did: the partitions it made the target's, per asset."""

    env: str
    target: str
    run_id: str
    partitions: dict[str, list[str]]

    @property
    def count(self) -> int:
        return sum(len(k) for k in self.partitions.values())


def create_env(session: Session, name: str, parent: str) -> Environment:
    """Make `name` from `parent`: a record, two schemas and a view per asset, nothing copied."""
    store, now = session.writer(), session.clock()
    if name not in store.environments():  # what a dropped one of that name left (a crash)
        session.tables.forget_env(name)
    env = store.create_env(name, parent, now)
    return Environment(env.name, parent, now)


def list_envs(session: Session) -> list[EnvInfo]:
    store = session.reader()
    if store is None:
        return [EnvInfo(PROD, None, None, 0)]
    counts = store.own_node_counts()
    out = [EnvInfo(PROD, None, None, counts.get(PROD, 0))]
    for env in store.environments().values():
        out.append(EnvInfo(env.name, env.parent, env.created_at, counts.get(env.name, 0)))
    return out


def drop_env(session: Session, name: str) -> None:
    session.writer().drop_env(name)
    session.tables.forget_env(name)


def _beside_parent(store: Store | None, name: str, other: str | None, verb: str) -> None:
    """`store` working in environment `name` (which must exist), checked to have a parent,
    and to be `other` when one is named."""
    if store is None:  # no warehouse yet: no environment either
        env = chain_of(name, {})
    else:
        store.use_env(name)
        env = store.env
    if env.is_prod:
        raise EnvError(f"prod has no parent to {verb}", "name an environment made beside it")
    if other is not None and other != env.parent:
        raise EnvError(
            f"environment {name} was made from {env.parent}, not {other}",
            f"it can be {verb}d {'into' if verb == 'promote' else 'against'} {env.parent} only",
        )


def diff_env(session: Session, name: str, against: str | None = None) -> list[AssetDiff]:
    """Per asset, the partitions whose data versions differ between `name` and its parent
    (lineage, no scan), then a row diff over those partitions only."""
    store = session.reader()
    _beside_parent(store, name, against, "compare")
    assert store is not None
    found: dict[str, list[str]] = {}
    for node in store.env_differing():
        found.setdefault(node.asset, []).append(node.partition)
    specs = session.graph.defs.assets
    return store.env_row_diffs(
        [
            Wanted(asset, tuple(keys), specs[asset].key if asset in specs else ())
            for asset, keys in found.items()
        ],
        SAMPLES,
    )


def promote_env(session: Session, name: str, to: str | None = None) -> Promotion:
    """Make everything `name` holds itself its parent's, in one transaction."""
    store = session.writer()
    _beside_parent(store, name, to, "promote")
    assert store.env.parent is not None
    run_id = new_run_id()
    promoted = session.tables.promote(store, run_id, session.clock())
    return Promotion(name, store.env.parent, run_id, promoted)
