"""Shared fixtures: tmp_path projects, a CLI runner with a fixed width and a fixed clock."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from assetflow.cli import cli

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOW = "2014-06-01T00:00:00"  # the fixed clock: every 2013 partition has ended
NOW_DT = dt.datetime(2014, 6, 1)


class Project:
    """A project in a temporary folder, driven through the real CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.warehouse = root / "warehouse" / "warehouse.duckdb"

    def run(self, *args: str, now: str = NOW) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--project", str(self.root), "--now", now, *args],
            env={"COLUMNS": "120", "NO_COLOR": "1"},
            catch_exceptions=False,
        )

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path


def make_project(root: Path, definitions: Path | None = None, extra: str = "") -> Project:
    """A project whose definitions are a copy of `definitions` (or empty)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.assetflow]\n{extra}", encoding="utf-8")
    if definitions is not None:
        shutil.copytree(
            definitions, root / "definitions", ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        (root / "definitions").mkdir()
    return Project(root)


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's landing files, split once per test session."""
    root = tmp_path_factory.mktemp("landing-source")
    project = make_project(root, REPO / "definitions")
    # Loading the example's definitions lands its files under the project.
    from assetflow.loader import load_definitions

    load_definitions(project.root / "definitions")
    return root / "landing"


@pytest.fixture
def example(tmp_path: Path, landing: Path) -> Project:
    """The example pipeline in a fresh project with its own copy of the landing files."""
    project = make_project(tmp_path / "example", REPO / "definitions")
    shutil.copytree(landing, project.root / "landing")
    return project


@pytest.fixture
def fixture_project(tmp_path: Path):
    """make(name) -> a project whose definitions are tests/fixtures/<name>/."""

    def make(name: str, extra: str = "") -> Project:
        return make_project(tmp_path / name, FIXTURES / name, extra)

    return make


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project; tests write their own definitions into it."""
    return make_project(tmp_path / "project")


def write_events(project: Project, day: str, rows: list[tuple[int, int]]) -> Path:
    """Land one day of the diamond fixture's `events` source."""
    body = "user_id,value\n" + "".join(f"{u},{v}\n" for u, v in rows)
    return project.write(f"landing/{day}.csv", body)


@pytest.fixture
def diamond(fixture_project) -> Project:
    """The diamond fixture with ten days of events landed."""
    project = fixture_project("diamond")
    for day in range(1, 11):
        write_events(project, f"2024-01-{day:02d}", [(1, day), (2, 10 * day), (3, 100 + day)])
    return project
