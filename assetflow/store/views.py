"""An environment's tables as its runs and its users read them: per asset, a view in the
schema named after the environment, its own rows (`_env_NAME."asset"`) over its parent's
view of the asset minus the partitions it holds itself (`assetflow.env_owned`).

Views bind when they are read, so a view made once follows its tables' columns; it is made
again only when what it unions changes (the environment's first write of the asset, a new
asset in an environment above it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from assetflow.core.checks import sql_literal
from assetflow.core.environments import Env, data_schema, read_schema
from assetflow.store.schema import PARTITION_COLUMN, table_sql


def own_partitions(
    cur: duckdb.DuckDBPyConnection, env: str, asset: str, keys: Sequence[str]
) -> None:
    """Inside a write's transaction: these partitions of `asset` are `env`'s own from now on."""
    cur.execute(
        "INSERT INTO assetflow.env_owned SELECT ?, ?, k FROM unnest(?::VARCHAR[]) t(k)"
        " WHERE k NOT IN (SELECT partition FROM assetflow.env_owned WHERE env = ? AND asset = ?)",
        [env, asset, list(keys), env, asset],
    )


def _relations(cur: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, name) of every table and view of the file."""
    rows = cur.execute(
        "SELECT schema_name, table_name FROM duckdb_tables()"
        " WHERE database_name = current_database()"
        " UNION ALL SELECT schema_name, view_name FROM duckdb_views()"
        " WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {(s, n) for s, n in rows}


def view_sql(env: str, parent: str, asset: str, relations: set[tuple[str, str]]) -> str | None:
    """The SELECT of `env`'s view of `asset`, given the relations that exist; None when
    neither it nor its parent has the asset."""
    own = (data_schema(env), asset) in relations
    above = (read_schema(parent), asset) in relations
    parts = []
    if own:
        parts.append(f"SELECT * FROM {table_sql(asset, data_schema(env))}")
    if above:
        held = (
            f"SELECT partition FROM assetflow.env_owned WHERE env = {sql_literal(env)}"
            f" AND asset = {sql_literal(asset)}"
        )
        parts.append(
            f"SELECT * FROM {table_sql(asset, read_schema(parent))}"
            f" WHERE {PARTITION_COLUMN} NOT IN ({held})"
        )
    return " UNION ALL BY NAME ".join(parts) or None


def refresh_env_view(cur: duckdb.DuckDBPyConnection, env: Env, asset: str) -> None:
    """`env`'s view of `asset` made again from what exists now."""
    assert env.parent is not None
    select = view_sql(env.name, env.parent, asset, _relations(cur))
    if select is not None:
        cur.execute(f"CREATE OR REPLACE VIEW {table_sql(asset, env.read_schema)} AS {select}")


def sync_env_views(cur: duckdb.DuckDBPyConnection, env: Env) -> None:
    """Every view of the environments of `env`'s chain below prod, made where missing or
    out of date (an asset new above them), parents first."""
    if env.is_prod:
        return
    relations = _relations(cur)
    current = dict(
        cur.execute(
            "SELECT schema_name || '.' || view_name, sql FROM duckdb_views()"
            " WHERE database_name = current_database() AND list_contains(?, schema_name)",
            [list(env.chain[:-1])],
        ).fetchall()
    )
    assets = sorted({name for schema, name in relations if _holds_assets(schema, env)})
    for name, parent in reversed(list(zip(env.chain, env.chain[1:], strict=False))):
        for asset in assets:
            select = view_sql(name, parent, asset, relations)
            made = current.get(f"{name}.{asset}")
            if select is None or (made is not None and _reads(made) == _reads(select)):
                continue
            cur.execute(f"CREATE OR REPLACE VIEW {table_sql(asset, name)} AS {select}")
            relations.add((name, asset))


def _reads(sql: str) -> set[str]:
    """The schemas a view's SQL reads (DuckDB keeps a view's SQL rewritten, not as given)."""
    return set(re.findall(r"FROM \"?(\w+)\"?\.", sql))


RETAINED = "_retained"  # the schema of the rows promotions replaced (reuse.py)


def forget_retained_rows(cur: duckdb.DuckDBPyConnection) -> None:
    """Rows of replaced nodes no longer in `assetflow.retained` deleted (inside a prune)."""
    tables = cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [RETAINED]
    ).fetchall()
    for (asset,) in tables:
        cur.execute(
            f"DELETE FROM {table_sql(asset, RETAINED)} WHERE _af_mid NOT IN"
            " (SELECT materialization_id FROM assetflow.retained)"
        )


def _holds_assets(schema: str, env: Env) -> bool:
    return schema == "main" or schema in {data_schema(e) for e in env.chain}


Held = tuple[tuple[str, str, tuple[str, ...]], ...]  # (asset, environment, partitions)


def held_partitions(cur: duckdb.DuckDBPyConnection, env: Env, wanted: dict[str, list[str]]) -> Held:
    """Of the partitions `wanted` per asset, those an environment of `env`'s chain below
    prod holds itself, each with the nearest such environment (the rest are prod's)."""
    if env.is_prod or not wanted:
        return ()
    rows = cur.execute(
        "SELECT asset, env, list(partition) FROM assetflow.env_owned"
        " WHERE list_contains(?, env) AND list_contains(?, asset) GROUP BY ALL",
        [list(env.chain[:-1]), sorted(wanted)],
    ).fetchall()
    owned = {(asset, name): set(keys) for asset, name, keys in rows}
    found = []
    for asset, keys in sorted(wanted.items()):
        left = set(keys)
        for name in env.chain[:-1]:
            mine = owned.get((asset, name), set()) & left
            if mine:
                found.append((asset, name, tuple(sorted(mine))))
                left -= mine
    return tuple(found)
