"""The progress bar moves, seen in a real pseudo-terminal (not through CliRunner)."""

import os
import pty
import re
import select
import sys

import pytest
from conftest import FIXTURES, NOW, make_project

pytestmark = pytest.mark.slow  # a real process on a pseudo-terminal


def in_a_terminal(*args: str) -> str:
    """Run the CLI on a pseudo-terminal; everything it drew there."""
    env = {**os.environ, "SLOW_SECONDS": "0.03", "COLUMNS": "120", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, its stdout and stderr on the terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "assetflow", *args], env)
    drawn = b""
    while select.select([fd], [], [], 60)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, drawn.decode(errors="replace")[-2000:]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))  # no colours


@pytest.mark.parametrize("command", [["materialize"], ["backfill", "--from", "2024-02-01",
                                                       "--to", "2024-02-25"]])  # fmt: skip
def test_the_bar_counts_nodes_as_they_finish(tmp_path, command):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    drawn = in_a_terminal(
        "--project", str(project.root), "--now", NOW, *command, "--concurrency", "1"
    )
    counts = {int(n) for n in re.findall(r"(\d+)/75", drawn)}
    assert len(counts - {0, 75}) >= 3, sorted(counts)  # frames in between, not 0 then 75
    assert re.search(rf"\b{command[0]}\b.*\d+/75", drawn)  # labelled with what runs
