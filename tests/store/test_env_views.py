"""An environment's views (store/views.py) on a real warehouse file: its own rows over its
parent's, made once, made again only when what they union changes."""

import datetime as dt

from assetflow.store.store import Store

NOW = dt.datetime(2024, 3, 1)


def _views(store: Store) -> dict[str, int]:
    rows = store.conn.execute(
        "SELECT view_name, view_oid FROM duckdb_views() WHERE schema_name = 'dev'"
    ).fetchall()
    return dict(rows)


def test_an_environment_reads_its_rows_over_its_parents(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    store = Store.open(path)
    try:
        store.conn.execute("CREATE TABLE main.t (x INT, _partition VARCHAR)")
        store.conn.execute("INSERT INTO main.t VALUES (1, 'p1'), (2, 'p2')")
        store.create_env("dev", "prod", NOW)
        made = _views(store)
        assert list(made) == ["t"]
        store.use_env("dev", writing=True)  # a second writer session: nothing to make
        assert _views(store) == made
        rows = "SELECT x, _partition FROM dev.t ORDER BY _partition"
        assert store.conn.execute(rows).fetchall() == [(1, "p1"), (2, "p2")]
        # dev's first write of t: its own table, its view made again over both
        store.conn.execute("CREATE TABLE _env_dev.t (x INT, _partition VARCHAR)")
        store.conn.execute("INSERT INTO _env_dev.t VALUES (20, 'p2')")
        store.conn.execute("INSERT INTO assetflow.env_owned VALUES ('dev', 't', 'p2')")
        store.use_env("dev", writing=True)
        assert _views(store) != made
        assert store.conn.execute(rows).fetchall() == [(1, "p1"), (20, "p2")]
        again = _views(store)
        store.use_env("dev", writing=True)
        assert _views(store) == again
        # a new asset in prod: dev gets a view of it at its next writer session
        store.conn.execute("CREATE TABLE main.u (y INT, _partition VARCHAR)")
        store.use_env("dev", writing=True)
        assert sorted(_views(store)) == ["t", "u"]
    finally:
        store.close()
