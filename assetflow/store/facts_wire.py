"""Facts as they travel between a reader and the process holding the warehouse: a question
(the reader's environment, code versions, observed sources, growing assets, the nodes it
looks at) and the facts it gets back, index intervals as [first, last] pairs."""

from __future__ import annotations

from typing import Any

from assetflow.core.intervals import Intervals, from_span_rows, span_rows
from assetflow.core.records import Facts

_KINDS = ("existing", "code_changed", "schema_changed", "upstream_changed", "failed",
          "check_failed")  # fmt: skip


def question(
    chain: tuple[str, ...],
    code: dict[str, str],
    runs: list[tuple[str, int, int, str | None]],
    growing: list[str],
    views: bool = False,
    within: dict[str, Intervals] | None = None,
) -> dict[str, Any]:
    """`views`: the session goes on to read node records (`why`): the holder makes the
    temporary tables and views they read in the session, in the same step. `within`: the
    only nodes whose facts the command looks at, if it says (their facts are exact; others'
    may be of an earlier commit)."""
    nodes = None if within is None else [list(row) for row in span_rows(within)]
    return {"env": list(chain), "code": sorted(code.items()), "observed": runs,
            "growing": sorted(growing), "views": views, "within": nodes}  # fmt: skip


def within_of(asked: dict[str, Any]) -> dict[str, Intervals] | None:
    """The nodes a question looks at (None: every node)."""
    if asked.get("within") is None:
        return None
    return from_span_rows((str(a), int(lo), int(hi)) for a, lo, hi in asked["within"])


def key_of(asked: dict[str, Any]) -> tuple[Any, ...]:
    """What a question's facts depend on besides the warehouse, hashable."""
    return (
        tuple(asked["env"]),
        tuple((str(a), str(v)) for a, v in asked["code"]),
        tuple((str(s), int(lo), int(hi), v) for s, lo, hi, v in asked["observed"]),
        tuple(asked["growing"]),
        None if asked.get("within") is None else tuple(tuple(n) for n in asked["within"]),
    )


def to_wire(facts: Facts) -> dict[str, Any]:
    out: dict[str, Any] = {
        kind: {a: [list(s) for s in i.spans] for a, i in getattr(facts, kind).items()}
        for kind in _KINDS
    }
    out["recorded_ranges"] = [
        [asset, index, {name: list(r) for name, r in read.items()}]
        for (asset, index), read in facts.recorded_ranges.items()
    ]
    return out


def from_wire(found: dict[str, Any]) -> Facts:
    kinds = {
        kind: {a: Intervals.of((lo, hi) for lo, hi in spans) for a, spans in found[kind].items()}
        for kind in _KINDS
    }
    ranges = {
        (asset, index): {name: (r[0], r[1], r[2]) for name, r in read.items()}
        for asset, index, read in found["recorded_ranges"]
    }
    return Facts(**kinds, recorded_ranges=ranges)
