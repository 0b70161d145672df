"""Status, why, lineage, observations and checks as people see them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from assetflow.cli.console.base import count_cell, err, out, spans_text
from assetflow.core.checks import samples_text
from assetflow.core.explain import Reason
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.partitions import compact
from assetflow.core.records import (
    AssetInfo,
    Cause,
    CheckRecord,
    NodeState,
    Observation,
)
from assetflow.core.status import AssetStatus, StatusReport


def render_status(
    report: StatusReport, targets: dict[str, Intervals], late: dict[str, Intervals], span: str
) -> None:
    table = Table(title=f"Status of {span}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    for column in ("fresh", "stale", "missing", "failed"):
        table.add_column(column, justify="right", no_wrap=True)
    if late:
        table.add_column("late", justify="right", no_wrap=True)
    table.add_column("not fresh: partitions by main cause", overflow="fold")
    for asset, scope in targets.items():
        st = report.assets[asset]
        counts = st.counts(scope)
        nonfresh = st.nonfresh & scope
        detail = "; ".join(
            f"{spans_text(spans, st.partitions)} [dim]{cause}[/]"
            for cause, spans in _by_main_cause(st, nonfresh)
        )
        cells = [
            count_cell(counts[NodeState(c)], c) for c in ("fresh", "stale", "missing", "failed")
        ]
        if late:
            n = len(late.get(asset, Intervals()) & scope)
            cells.append(f"[red]{n:,}[/]" if n else "0")
        table.add_row(asset, *cells, detail)
    out.print(table)


def _by_main_cause(st: AssetStatus, nonfresh: Intervals) -> list[tuple[Cause, Intervals]]:
    """The non-fresh partitions grouped by each one's main cause, set-wise, earliest first."""
    left, out = nonfresh, []
    for cause in Cause.precedence():
        mine = left & getattr(st, cause.value)
        if mine:
            out.append((cause, mine))
            left = left - mine
    return sorted(out, key=lambda found: found[1].spans[0])


MAX_ROOTS = 5  # root causes listed under `why`'s tree


def render_why(reason: Reason) -> None:
    tree = Tree(_why_label(reason))
    _grow(tree, reason)
    out.print(tree)
    chains = reason.chains() if reason.children else []
    if chains:
        out.print("[bold]root causes[/]")
        for chain in chains[:MAX_ROOTS]:
            out.print(f"  {escape(chain)}")
        left = max(0, len(chains) - MAX_ROOTS) + reason.left_out()
        if left:
            out.print(f"  … and {left} more")


def _why_label(reason: Reason) -> str:
    colour = "green" if reason.status == "fresh" else "yellow"
    detail = f" [dim]{escape(reason.detail)}[/]" if reason.detail else ""
    return f"[bold]{escape(reason.subject)}[/] [{colour}]{escape(reason.label)}[/]{detail}"


def _grow(tree: Tree, reason: Reason) -> None:
    for child in reason.children:
        _grow(tree.add(_why_label(child)), child)


def render_lineage(graph: AssetGraph, asset: str, upstream: bool, downstream: bool) -> None:
    def label(name: str, mapping: str | None = None) -> str:
        kind = "source" if name in graph.defs.sources else "asset"
        via = f" [dim]via {mapping}[/]" if mapping else ""
        return f"[bold]{name}[/] [dim]{kind}, {graph.defs.spec(name).partitions.describe()}[/]{via}"

    if upstream:
        spec = graph.defs.assets.get(asset)
        if spec and spec.deps:
            tree = Tree(label(asset) + " [dim]reads[/]")
            _upstream_tree(graph, tree, asset, label)
            out.print(tree)
        else:
            out.print(label(asset) + " [dim]reads nothing upstream[/]")
    if downstream:
        if any(True for _ in graph.graph.successors(asset)):
            tree = Tree(label(asset) + " [dim]is read by[/]")
            _downstream_tree(graph, tree, asset, label)
            out.print(tree)
        else:
            out.print(label(asset) + " [dim]is read by no asset[/]")


def _upstream_tree(graph: AssetGraph, tree: Tree, name: str, label: Any) -> None:
    spec = graph.defs.assets.get(name)
    for dep in spec.deps if spec else ():
        _upstream_tree(graph, tree.add(label(dep.name, dep.mapping.describe())), dep.name, label)


def _downstream_tree(graph: AssetGraph, tree: Tree, name: str, label: Any) -> None:
    for down in sorted(graph.graph.successors(name)):
        mapping = next(d.mapping for d in graph.defs.assets[down].deps if d.name == name)
        _downstream_tree(graph, tree.add(label(down, mapping.describe())), down, label)


def render_observations(observed: Any) -> None:
    """`observe`: what changed, what is seen for the first time, what runs had read."""
    if not (observed.changed or observed.new or observed.unchanged):
        out.print("no source changed since the last observation")
        return
    if observed.changed:
        n = len(observed.changed)
        _observations(f"{n} source partition{'' if n == 1 else 's'} changed", observed.changed)
    if observed.new:
        n = len(observed.new)
        _observations(f"{n} source partition{'' if n == 1 else 's'} seen for the first time",
                      observed.new)  # fmt: skip
    if observed.unchanged:
        n = observed.unchanged
        out.print(
            f"{n} source partition{'' if n == 1 else 's'} unchanged since a run read"
            f" {'it' if n == 1 else 'them'}"
        )


def _observations(title: str, found: list[Observation]) -> None:
    table = Table(title=title, title_justify="left")
    if len(found) > 20:  # many: one row per source
        table.add_column("source")
        table.add_column("partitions", overflow="fold")
        table.add_column("gone", justify="right")
        by_source: dict[str, list[Observation]] = defaultdict(list)
        for o in found:
            by_source[o.source].append(o)
        for source, each in by_source.items():
            keys = compact({o.index: o.partition for o in each})
            table.add_row(source, keys, str(sum(o.version is None for o in each)))
        out.print(table)
        return
    for column in ("source", "partition", "version", "where"):
        table.add_column(column)
    for o in found:
        table.add_row(o.source, o.partition, o.version or "[red]gone[/]", o.detail)
    out.print(table)


def render_assets(found: list[AssetInfo]) -> None:
    if not found:
        out.print("no assets")
        return
    table = Table(title="Assets", title_justify="left")
    for column in ("asset", "partitions", "reads", "checks", "schedules", "built", "recent rows"):
        table.add_column(column, overflow="fold", no_wrap=column == "asset")
    for a in found:
        name = f"[bold]{a.asset}[/]" + (f" [dim]group:{a.group}[/]" if a.group else "")
        if a.description:
            name += f"\n[dim]{escape(a.description.splitlines()[0])}[/]"
        if a.unseen:
            name += f"\n[yellow]code version does not see {escape(', '.join(a.unseen))}[/]"
        built = "never"
        if a.last_built_at is not None:
            built = f"{a.materialized:,}, last {a.last_built_at:%Y-%m-%d %H:%M} ({a.last_run})"
        recent = ", ".join(f"{p}: {n:,}" for p, n in a.recent_rows)
        table.add_row(
            name, a.partitions, "\n".join(a.reads), "\n".join(escape(c) for c in a.checks),
            ", ".join(a.schedules), built, recent,
        )  # fmt: skip
    out.print(table)


SHOWN_ROWS = 40  # rows of a query's result a table shows (as the DuckDB CLI does)


def render_rows(columns: list[str], batches: Iterable[list[tuple[Any, ...]]]) -> None:
    """A query's result as a table of its first SHOWN_ROWS rows, saying how many it left
    out (the rest are counted, not kept); a statement without rows (a SET) prints nothing."""
    if not columns:
        return
    shown: list[tuple[Any, ...]] = []
    total = 0
    for rows in batches:
        total += len(rows)
        shown += rows[: SHOWN_ROWS - len(shown)]
    table = Table()
    for column in columns:
        table.add_column(escape(column), overflow="fold")
    for row in shown:
        table.add_row(*(escape("NULL" if v is None else str(v)) for v in row))
    out.print(table)
    count = f"{total:,} row{'' if total == 1 else 's'}"
    if total > len(shown):
        count += f", {total - len(shown):,} not shown (--csv or --json print them all)"
    out.print(count)


def render_checks(records: list[CheckRecord], none: str = "no check results") -> None:
    """`none`: what to say when there is nothing to list."""
    if not records:
        out.print(none)
        return
    table = Table(title="Checks (latest result per node)", title_justify="left")
    sampled = any(r.samples for r in records)
    columns = ("node", "check", "severity", "result", "failing rows", "message")
    for column in columns + (("sample rows",) if sampled else ()):
        table.add_column(column, overflow="fold")
    for r in records:
        result = _check_label(r.passed, r.severity)
        table.add_row(
            f"{r.asset}[{r.partition}]", escape(r.check), r.severity, result,
            str(r.failing_rows), escape(r.message),
            *((escape(samples_text(r.samples)),) if sampled else ()),
        )  # fmt: skip
    out.print(table)


def _check_label(passed: bool, severity: str) -> str:
    if passed:
        return "[green]pass[/]"
    return "[yellow]warn[/]" if severity == "warn" else "[red]FAIL[/]"


def render_stored_checks(asset: str, found: list[CheckRecord]) -> None:
    if not found:
        out.print(f"no stored partitions of {asset} in range")
        return
    table = Table(title=f"Checks on stored {asset}", title_justify="left")
    for column in ("partition", "check", "result", "failing rows", "sample rows"):
        table.add_column(column, overflow="fold")
    for r in found:
        result = _check_label(r.passed, r.severity)
        sample = escape(samples_text(r.samples))
        table.add_row(r.partition, escape(r.check), result, str(r.failing_rows), sample)
    out.print(table)


def keys_changed(done: Any, added: bool) -> None:
    """What `partitions add|remove` did to a key set."""
    verb, prep = ("added", "to") if added else ("removed", "from")
    n = len(done.changed)
    keys = ", ".join(done.changed)
    line = f"{verb} {n} key{'' if n == 1 else 's'} {prep} {done.name}" + (f": {keys}" if n else "")
    out.print(f"{escape(line)} (now {done.keys} key{'' if done.keys == 1 else 's'})")
    if not added and n and done.users:
        users = ", ".join(done.users)
        out.print(
            f"their partitions leave status and plans; their rows stay in {escape(users)}"
            " until wiped, and adding a key again brings its lineage back"
        )


def key_sets(found: dict[str, list[str]]) -> None:
    table = Table(title="Dynamic partitions", title_justify="left")
    table.add_column("key set", no_wrap=True)
    table.add_column("keys", justify="right")
    table.add_column("in the order added", overflow="fold")
    for name, keys in found.items():
        table.add_row(escape(name), str(len(keys)), escape(", ".join(keys)))
    out.print(table)


def render_tests(results: list[Any], selection: tuple[str, ...], to_err: bool = False) -> None:
    """`assetflow test`: a line per passing test, the differences of each failing one."""
    console = err if to_err else out
    if not results:
        which = f" of {' '.join(selection)}" if selection else ""
        console.print(f"no asset tests{escape(which)}: declare one with asset_test(...)")
        return
    for r in results:
        lines = r.report().splitlines()
        mark = "[green]ok[/]" if r.passed else "[bold red]FAILED[/]"
        first = lines[0].split(" ", 1)[1]
        console.print(f"{mark} {escape(first)}")
        for line in lines[1:]:
            console.print(escape(line))
    failed = sum(not r.passed for r in results)
    summary = f"{len(results) - failed} passed, {failed} failed"
    console.print(f"[bold red]{summary}[/]" if failed else f"[green]{summary}[/]")
