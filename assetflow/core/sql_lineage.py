"""What an SQL asset's query reads, parsed with sqlglot (DuckDB dialect). Pure: text in,
records out; sqlglot is imported on first use.

- `tables_read(sql)`: the tables the query reads (not its CTEs, not table functions such as
  `read_csv`), to check them against the asset's declared dependencies;
- `column_lineage(sql, schema)`: per output column, the upstream columns it derives from,
  and every upstream column used to filter, join or group (WHERE, JOIN ... ON/USING,
  GROUP BY, HAVING, QUALIFY) — including in CTEs and subqueries, which plain output lineage
  misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assetflow.errors import DefinitionError

Column = tuple[str, str]  # (table, column)


@dataclass(frozen=True)
class ColumnLineage:
    outputs: tuple[tuple[str, tuple[Column, ...]], ...]  # output column -> its sources
    filters: tuple[Column, ...]  # columns used in WHERE, JOIN, GROUP BY, HAVING, QUALIFY

    def filter_only(self) -> tuple[Column, ...]:
        """Filter columns no output column derives from."""
        derived = {c for _, sources in self.outputs for c in sources}
        return tuple(c for c in self.filters if c not in derived)

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": [
                {"column": name, "from": [{"table": t, "column": c} for t, c in sources]}
                for name, sources in self.outputs
            ],
            "filters": [
                {"table": t, "column": c, "only_filter": (t, c) in self.filter_only()}
                for t, c in self.filters
            ],
        }


def _parse(sql: str) -> Any:
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        return sqlglot.parse_one(sql, dialect="duckdb")
    except ParseError as exc:
        first = str(exc).splitlines()[0]
        raise DefinitionError(f"SQL does not parse: {first}") from None


def tables_read(sql: str) -> tuple[str, ...]:
    """The tables the query reads, sorted; CTE names and table functions left out."""
    from sqlglot import exp

    tree = _parse(sql)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}
    return tuple(sorted(names))


def column_lineage(sql: str, schema: dict[str, dict[str, str]]) -> ColumnLineage:
    """Column lineage of the query over tables of `schema` (table -> column -> type)."""
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    tables: dict[str, object] = dict(schema)  # sqlglot's type for a schema mapping
    tree = qualify(_parse(sql), schema=tables, dialect="duckdb", validate_qualify_columns=False)
    outputs = []
    for select in tree.selects:
        name = select.alias_or_name
        node = lineage(name, tree, schema=schema, dialect="duckdb")
        sources = {
            (leaf.source.name, leaf.name.split(".")[-1].strip('"'))
            for leaf in node.walk()
            if not leaf.downstream and isinstance(leaf.source, exp.Table) and leaf.source.name
        }
        outputs.append((name, tuple(sorted(sources))))
    filters: set[Column] = set()
    root = build_scope(tree)
    for scope in root.traverse() if root else ():
        select = scope.expression
        clauses = [select.args.get(k) for k in ("where", "group", "having", "qualify")]
        clauses += [join.args.get("on") for join in select.args.get("joins") or ()]
        for clause in clauses:
            for column in clause.find_all(exp.Column) if clause is not None else ():
                filters |= _origins(scope, column.table, column.name)
    return ColumnLineage(tuple(outputs), tuple(sorted(filters)))


def _origins(scope: Any, alias: str, column: str) -> set[Column]:
    """The table columns `alias.column` in `scope` stands for, through CTEs and subqueries."""
    from sqlglot import exp

    source = scope.sources.get(alias)
    if isinstance(source, exp.Table):
        return {(source.name, column)} if source.name else set()
    if source is None or not hasattr(source, "expression"):
        return set()
    found: set[Column] = set()
    for select in source.expression.selects:
        if select.alias_or_name == column:
            for inner in select.find_all(exp.Column):
                found |= _origins(source, inner.table, inner.name)
    return found
