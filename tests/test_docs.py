"""The docs cannot drift: the CLI reference is generated, and every option explains itself."""

import click
from conftest import REPO

from assetflow.cli import cli
from assetflow.clidoc import _commands, render


def test_the_cli_reference_is_current():
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == render(cli), "regenerate: python -m assetflow.clidoc > docs/cli.md"


def test_every_command_and_option_is_explained():
    for path, command in [("assetflow", cli), *_commands(cli, "assetflow")]:
        assert (command.help or "").strip(), f"{path} has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{path} {param.opts[0]} has no help text"


def test_the_readme_lists_every_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for path, _ in _commands(cli, "assetflow"):
        if path.endswith(" run"):  # `backfill run` is what bare `backfill` runs
            continue
        assert f"`{path}" in readme, f"README does not mention {path}"
