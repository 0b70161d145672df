"""Dynamic partitions' key sets: adding, removing and listing keys (`assetflow partitions`)."""

from __future__ import annotations

from dataclasses import dataclass

from assetflow.app.session import Session
from assetflow.core.partitions import check_key
from assetflow.errors import UsageError


@dataclass(frozen=True)
class KeyChange:
    name: str
    changed: tuple[str, ...]  # the keys added (or removed); others were so already
    keys: int  # how many keys the set has now
    users: tuple[str, ...]  # the assets partitioned by it (sources hold no rows)


def change(session: Session, name: str, keys: list[str], add: bool, wait: float = 0.0) -> KeyChange:
    """Add keys to (or remove them from) a declared key set, in one transaction."""
    users = _users(session, name)
    for key in keys:
        check_key(key)
    store = session.writer(wait)
    now = session.clock()
    changed = store.change_keys(name, keys, add, now)
    count = sum(active for _, _, active in store.keysets([name])[name])
    session.forget_graph()
    return KeyChange(name, tuple(changed), count, users)


def listing(session: Session, name: str | None) -> dict[str, list[str]]:
    """Each declared key set (or the one named) and its keys, in the order they were added."""
    names = [name] if name else session.graph.defs.dynamic_names()
    if name:
        _users(session, name)
    store = session.reader()
    sets = store.keysets(names) if store is not None else {}
    return {n: [k for _, k, active in sets.get(n, ()) if active] for n in names}


def _users(session: Session, name: str) -> tuple[str, ...]:
    defs = session.graph.defs
    if name not in defs.dynamic_names():
        known = ", ".join(defs.dynamic_names()) or "none declared"
        raise UsageError(f"no dynamic partitions named {name!r}", f"known: {known}")
    return tuple(a for a in defs.partitioned_by(name) if a in defs.assets)
