"""The CLI reference in Markdown, generated from the click commands themselves.

`python -m assetflow.cli.clidoc > docs/cli.md` regenerates it; a test fails when the committed
file differs, so a new command or option cannot go undocumented.
"""

from __future__ import annotations

import inspect

import click

from assetflow.cli.schemas import OUTPUTS, outline


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    """Every command by the path a user types; a group with a default command is shown as
    that command (`assetflow backfill`), then its other subcommands."""
    out: list[tuple[str, click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix} {name}"
        default = getattr(command, "default", None)
        if isinstance(command, click.Group) and default:
            out.append((path, command.commands[default]))
            out.extend(p for p in _commands(command, path) if p[1] is not command.commands[default])
        else:
            out.append((path, command))
            if isinstance(command, click.Group):
                out.extend(_commands(command, path))
    return out


def _options(command: click.Command) -> list[str]:
    lines = []
    for param in command.params:
        if isinstance(param, click.Argument):
            lines.append(f"| `{param.human_readable_name}` | argument | |")
            continue
        assert isinstance(param, click.Option)
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        kind = "flag" if param.is_flag else (param.metavar or param.type.name.upper())
        lines.append(f"| {names} | {kind} | {(param.help or '').replace('|', '/')} |")
    return lines


def render(cli: click.Group) -> str:
    parts = [
        "# Command-line reference",
        "",
        "Generated from the commands by `python -m assetflow.cli.clidoc`; do not edit by hand.",
        "",
        f"## assetflow\n\n{cli.help or ''}\n",
        "| option | kind | meaning |",
        "| --- | --- | --- |",
        *_options(cli),
        "",
    ]
    for path, command in _commands(cli, "assetflow"):
        usage = " ".join(command.collect_usage_pieces(click.Context(command)))
        parts += [
            f"## {path}",
            "",
            f"`{path} {usage}`",
            "",
            inspect.cleandoc(command.help or ""),
            "",
        ]
        options = _options(command)
        if options:
            parts += ["| option | kind | meaning |", "| --- | --- | --- |", *options, ""]
    parts += [
        "## JSON output",
        "",
        "Every `--json` prints one JSON document; a record (a run, an attempt, a check result)",
        "has the same fields wherever it appears. Timestamps are ISO 8601 in UTC; partition",
        "keys are strings. The schemas, as JSON Schema, are in `assetflow/cli/schemas.py`.",
        "",
    ]
    for name, schema in OUTPUTS.items():
        parts += [f"### assetflow {name} --json", "", *outline(schema), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    from assetflow.cli import cli

    print(render(cli), end="")
