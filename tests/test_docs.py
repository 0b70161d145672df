"""The docs cannot drift: the CLI reference is generated, and every option explains itself."""

import os
import re
import subprocess
import sys

import click
import pytest
from conftest import REPO

from assetflow.cli import cli
from assetflow.cli.clidoc import _commands, render


def test_the_cli_reference_is_current():
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == render(cli), "regenerate: python -m assetflow.cli.clidoc > docs/cli.md"


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


FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)


def runnable_script(markdown: str) -> str:
    """A bash script from a page's runnable blocks, in order: ```bash run [exit=N] blocks
    run (and must exit N, default 0); ```python file=PATH blocks are written to PATH."""
    parts = ["set -euo pipefail", 'assetflow() { "$ASSETFLOW_PYTHON" -m assetflow "$@"; }']
    for number, (language, info, body) in enumerate(FENCE.findall(markdown), start=1):
        words = dict(w.split("=", 1) if "=" in w else (w, "") for w in info.split())
        if language == "python" and "file" in words:
            parts.append(f'mkdir -p "$(dirname {words["file"]})"')
            parts.append(f"cat > {words['file']} <<'ASSETFLOW_DOC_EOF'\n{body}ASSETFLOW_DOC_EOF")
        elif language == "bash" and "run" in words:
            expected = int(words.get("exit", "0"))
            if expected == 0:
                parts.append(f'echo "### block {number}"\n{body}')
            else:
                parts.append(
                    f'echo "### block {number}"\nset +e\n(\n{body})\ncode=$?\nset -e\n'
                    f'[ "$code" -eq {expected} ] || {{ echo "block {number} exited $code,'
                    f' expected {expected}"; exit 1; }}'
                )
    return "\n".join(parts) + "\n"


RUNNABLE_PAGES = sorted(
    str(p.relative_to(REPO / "docs"))
    for p in (REPO / "docs").rglob("*.md")
    if re.search(r"^```(bash run|python file=)", p.read_text(encoding="utf-8"), re.M)
)


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
@pytest.mark.slow
def test_runnable_blocks_in_the_docs_run(page, tmp_path):
    script = runnable_script((REPO / "docs" / page).read_text(encoding="utf-8"))
    env = {**os.environ, "ASSETFLOW_PYTHON": sys.executable, "COLUMNS": "120", "NO_COLOR": "1"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{page}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_the_tutorial_has_runnable_blocks_and_they_can_fail():
    assert "tutorial.md" in RUNNABLE_PAGES
    script = runnable_script((REPO / "docs" / "tutorial.md").read_text(encoding="utf-8"))
    assert script.count("### block") >= 6 and "cat > definitions/shop.py" in script
    broken = runnable_script("```bash run\nfalse\n```\n")
    assert subprocess.run(["bash", "-c", broken], capture_output=True).returncode != 0


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_in_the_docs_resolve():
    pages = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(REPO)} links {target}"


ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def test_no_runnable_block_pairs_a_dated_range_with_todays_init():
    """`assetflow init` starts its days a week before now: a block that inits without `--now`
    and names a literal date works only on the day it was written (docs/scaleout.md did)."""
    for page in RUNNABLE_PAGES:
        for language, info, body in FENCE.findall((REPO / "docs" / page).read_text("utf-8")):
            if language != "bash" or "run" not in info.split():
                continue
            inits = [line for line in body.splitlines() if re.search(r"assetflow .*\binit\b", line)]
            if any("--now" not in line for line in inits):
                assert not ISO_DATE.search(body), f"{page}: init without --now beside a date"
