"""The command line: parses, calls the application layer, renders (console.py, the only
module that imports rich). Only this package imports click.

- main.py: the group, global options (--project, --debug, --now, --env), shared options, and the
  one place where errors become one red line and an exit code;
- run_commands.py: materialize, backfill, tick, daemon, init;
- read_commands.py: status, why, checks, check, observe, lineage, runs, logs;
- keys_commands.py: partitions add, remove, list (dynamic partitions' keys);
- ops_commands.py: wipe, repair, prune;
- ui_commands.py: ui (the web page, assetflow/web);
- review_commands.py: test (asset tests with fixture rows);
- env_commands.py: env create, list, diff, promote, drop.
"""

from assetflow.cli import (  # noqa: F401 - they register commands
    env_commands,
    keys_commands,
    ops_commands,
    read_commands,
    review_commands,
    run_commands,
    ui_commands,
)
from assetflow.cli.main import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="assetflow")
