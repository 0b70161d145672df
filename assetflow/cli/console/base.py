"""The two consoles (stdout: results; stderr: errors and progress) and shared cells."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape

from assetflow.core.intervals import Intervals
from assetflow.core.partitions import Partitions, compact_ranges
from assetflow.errors import AssetflowError


def _width(stream: object) -> int | None:
    """On a terminal, rich measures it; `COLUMNS` wins when set; piped (cron, CI, a file)
    without it, wide enough that no value is cut or wrapped."""
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return 100_000


class _Console(Console):
    """A console whose closed pipe (`| head`) reaches the CLI's one handler (a quiet exit 0)
    rather than rich's own exit 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


out = _Console(highlight=False, soft_wrap=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def error(exc: BaseException | str) -> None:
    text = exc.one_line() if isinstance(exc, AssetflowError) else str(exc)
    err.print(f"[bold red]error:[/] {escape(text)}")


def note(text: str) -> None:
    """A line about the answer, not part of it (on stderr: `--json` output stays JSON)."""
    err.print(f"[yellow]note:[/] {escape(text)}")


def ranges(keys: list[str], partitions: Partitions) -> str:
    if not partitions.is_partitioned:
        return "(unpartitioned)"
    return compact_ranges(keys, partitions)


def spans_text(spans: Intervals, partitions: Partitions) -> str:
    """Partitions held as intervals, as people read them (a product where they are one)."""
    return partitions.compact(spans) if partitions.is_partitioned else "(unpartitioned)"


def count_cell(n: int, column: str) -> str:
    colour = {"fresh": "green", "stale": "yellow", "missing": "blue", "failed": "red"}[column]
    return f"[{colour}]{n:,}[/]" if n else "0"


STATUS_COLOUR = {
    "success": "green",
    "verified": "green",
    "partial": "yellow",
    "retrying": "yellow",
    "running": "cyan",
    "failed": "red",
    "upstream_failed": "red",
    "abandoned": "magenta",
    "interrupted": "magenta",
}


def status_label(text: str) -> str:
    return f"[{STATUS_COLOUR.get(text, 'white')}]{text}[/]"
