"""`assetflow test`: reviewing a change before it runs (asset tests with fixture rows)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from assetflow.cli.main import Options, _Lazy, cli, console, echo_json, json_option
from assetflow.errors import ExitCode

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.app.asset_tests as tests_app
else:
    tests_app = _Lazy("assetflow.app.asset_tests")


@cli.command("test")
@click.argument("selection", nargs=-1)
@json_option
@click.pass_obj
def test_command(opts: Options, selection: tuple[str, ...], as_json: bool) -> None:
    """Run the asset tests (`asset_test(...)` in definitions/) of SELECTION (default: all):
    each asset computed from its fixture rows in an in-memory DuckDB, never the warehouse.
    Exit 1 if one fails, with the rows missing, unexpected and changed."""
    with opts.session() as session:
        results = tests_app.run_tests(session, selection)
    if as_json:
        echo_json([r.as_json() for r in results])
    else:
        console.render_tests(results, selection)
    sys.exit(ExitCode.FAILED if any(not r.passed for r in results) else ExitCode.OK)
