"""What an asset test found, and how it reads: rows missing, rows unexpected, rows changed.

Pure: run/asset_tests.py computes the asset on the fixture rows and fills a TestResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
SHOWN = 10  # rows a report lists of each kind; it counts the rest


@dataclass(frozen=True)
class ChangedRow:
    """A row found by its key on both sides whose other columns differ."""

    key: Row
    columns: dict[str, tuple[Any, Any]]  # column -> (expected, actual)


@dataclass(frozen=True)
class TestResult:
    """One asset test's outcome. `error` is a test that could not run (a missing input, a
    column `expect` names that the asset does not return, the asset raising)."""

    __test__ = False  # not a pytest class, whatever its name

    name: str
    asset: str
    partition: str | None
    where: str
    missing: tuple[Row, ...] = ()  # expected, not produced
    unexpected: tuple[Row, ...] = ()  # produced, not expected
    changed: tuple[ChangedRow, ...] = ()
    key: tuple[str, ...] = ()
    produced: int = 0  # rows the asset returned
    error: str | None = None
    compared: tuple[str, ...] = field(default=())  # the columns compared

    @property
    def passed(self) -> bool:
        return self.error is None and not (self.missing or self.unexpected or self.changed)

    @property
    def label(self) -> str:
        where = f"[{self.partition}]" if self.partition else ""
        return f"{self.name} ({self.asset}{where})"

    def report(self) -> str:
        """The outcome as lines for people: the differences, the first SHOWN of each kind."""
        if self.passed:
            return f"ok {self.label} ({_count(self.produced, 'row')})"
        lines = [f"FAILED {self.label} ({self.where})"]
        if self.error is not None:
            return "\n".join([*lines, f"  {self.error}"])
        for title, rows in (
            ("missing (expected, not produced)", self.missing),
            ("unexpected (produced, not expected)", self.unexpected),
        ):
            if rows:
                lines.append(f"  {title}: {_count(len(rows), 'row')}")
                lines += [f"    {_row(r)}" for r in rows[:SHOWN]]
                lines += _more(len(rows))
        if self.changed:
            by = ", ".join(self.key)
            lines.append(f"  changed (by {by}): {_count(len(self.changed), 'row')}")
            for c in self.changed[:SHOWN]:
                diffs = "; ".join(
                    f"{col} expected {_value(e)}, got {_value(a)}"
                    for col, (e, a) in c.columns.items()
                )
                lines.append(f"    {_row(c.key)}: {diffs}")
            lines += _more(len(self.changed))
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The record `assetflow test --json` prints (docs/cli.md)."""
        return {
            "name": self.name,
            "asset": self.asset,
            "partition": self.partition,
            "where": self.where,
            "passed": self.passed,
            "error": self.error,
            "produced": self.produced,
            "compared": list(self.compared),
            "key": list(self.key),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "changed": [
                {
                    "key": c.key,
                    "columns": {
                        col: {"expected": e, "actual": a} for col, (e, a) in c.columns.items()
                    },
                }
                for c in self.changed
            ],
        }


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _more(n: int) -> list[str]:
    return [f"    … and {n - SHOWN:,} more"] if n > SHOWN else []


def _row(row: Row) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in row.items())


def _value(value: Any) -> str:
    return "NULL" if value is None else str(value)
