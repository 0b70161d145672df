"""The application layer: one Session per command (session.py) and the use cases the CLI
calls: materialize and backfill (materialize.py), the commands that look (queries.py),
ticks (ticks.py), plus configuration, loading definitions and scaffolding."""
