"""Shared fixtures: tmp_path projects, a CLI runner with a fixed width and a fixed clock."""

from __future__ import annotations

import sys

# pytest keeps its rewritten test modules (and Python its compiled ones) only where bytecode may
# be written: under PYTHONDONTWRITEBYTECODE=1 every xdist worker rewrote all ~190 test modules on
# every run, about 5 s each of a one-minute budget. The setting is the suite's, not the package's.
sys.dont_write_bytecode = False

import datetime as dt
import json
import os
import shutil
import subprocess
import textwrap
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from assetflow.cli import cli
from assetflow.core.mappings import Edge

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOW = "2014-06-01T00:00:00"  # the fixed clock: every 2013 partition has ended
NOW_DT = dt.datetime(2014, 6, 1)

# Property tests assert what is computed, never how fast: no deadline per example (hypothesis'
# default, 200 ms, failed an example that takes ~190 ms when CI shared the machine: 314 ms).
settings.register_profile("assetflow", deadline=None)
settings.load_profile("assetflow")


class Project:
    """A project in a temporary folder, driven through the real CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.warehouse = root / "warehouse" / "warehouse.duckdb"

    def run(self, *args: str, now: str | None = NOW, input: str | None = None) -> Result:
        """Run the CLI at `now` (None: on the wall clock, where retry waits are real), with
        `input` on its standard input."""
        runner = CliRunner()
        clock = ["--now", now] if now else []
        return runner.invoke(
            cli,
            ["--project", str(self.root), *clock, *args],
            env={"COLUMNS": "120", "NO_COLOR": "1"},
            catch_exceptions=False,
            input=input,
        )

    @property
    def storage(self) -> str:
        """Where the project keeps its asset tables: "duckdb" or "delta"."""
        settings = (self.root / "pyproject.toml").read_text(encoding="utf-8")
        return "delta" if 'storage = "delta"' in settings else "duckdb"

    def process(self, *args: str, now: str | None = NOW) -> subprocess.CompletedProcess:
        """`assetflow ARGS` as a process of its own, as a user runs it (at `now`)."""
        clock = ["--now", now] if now else []
        command = [sys.executable, "-m", "assetflow", "--project", str(self.root), *clock]
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
            cwd=self.root,
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
    from assetflow.defs.loader import load_definitions

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


# The parity suite: a module whose scenarios must hold on both storages asks for
# `on_each_storage` (as its `project`); the Delta Lake runs are slow ones.
STORAGES = {"duckdb": "", "delta": 'storage = "delta"\nstorage_path = "lake"\n'}


@pytest.fixture(params=["duckdb", pytest.param("delta", marks=pytest.mark.slow)])
def storage_settings(request: pytest.FixtureRequest) -> str:
    """The [tool.assetflow] lines of each storage: the warehouse file, then Delta Lake."""
    return STORAGES[request.param]


@pytest.fixture
def on_each_storage(storage_settings: str, tmp_path: Path) -> Project:
    """An empty project with its asset tables in the warehouse file, then in Delta Lake."""
    return make_project(tmp_path / "project", extra=storage_settings)


def write_events(project: Project, day: str, rows: list[tuple[int, int]]) -> Path:
    """Land one day of the diamond fixture's `events` source."""
    body = "user_id,value\n" + "".join(f"{u},{v}\n" for u, v in rows)
    return project.write(f"landing/{day}.csv", body)


@pytest.fixture
def diamond(tmp_path: Path) -> Project:
    """The diamond fixture with ten days of events landed."""
    return diamond_project(tmp_path / "diamond")


def diamond_project(root: Path, extra: str = "") -> Project:
    """The diamond fixture at `root` (`extra`: lines of [tool.assetflow]), ten days landed."""
    project = make_project(root, FIXTURES / "diamond", extra)
    for day in range(1, 11):
        write_events(project, f"2024-01-{day:02d}", [(1, day), (2, 10 * day), (3, 100 + day)])
    return project


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    """built(name, now) -> a copy, for one test, of tests/fixtures/<name> (the diamond with its
    ten days landed) materialized at `now` once per worker: a test that starts from a built
    warehouse without paying for the build. The copy's runs name the original's log files."""
    made: dict[tuple[str, str], Path] = {}

    def copy(name: str, where: Path, now: str = NOW) -> Project:
        if (name, now) not in made:
            root = tmp_path_factory.mktemp(f"built-{name}") / name
            fresh = (
                diamond_project(root) if name == "diamond" else make_project(root, FIXTURES / name)
            )
            assert fresh.run("materialize", now=now).exit_code == 0
            made[name, now] = root
        shutil.copytree(made[name, now], where)
        return Project(where)

    return copy


@pytest.fixture
def built_diamond(built, tmp_path: Path) -> Project:
    """The diamond fixture, materialized (a copy of one built once per worker)."""
    return built("diamond", tmp_path / "diamond")


class Receiver:
    """A real HTTP server on the loopback that records what it is sent (POST) and answers
    GET requests through `serve(path, query) -> (status, JSON payload)`: an API to ingest from."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        self.gets: list[str] = []
        self.serve = lambda path, query: (404, {"error": "not found"})
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def do_GET(self):  # noqa: N802
                receiver.gets.append(self.path)
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                code, payload = receiver.serve(url.path, query)
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.base}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


# One question of one edge (the graph keeps an `Edge` per dependency and asks it many).
def map_partition(mapping, down, index, up, now):
    """What downstream partition `index` reads of `up`."""
    return Edge(mapping, down, up).mapper(now)(index)


def upstream_reads(mapping, down, spans, up, now):
    return Edge(mapping, down, up).reads(spans, now)


def downstream_readers(mapping, down, up, changed, now):
    return Edge(mapping, down, up).readers(changed, now)
