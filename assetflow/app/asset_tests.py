"""`assetflow test`: the asset tests of a selection, run on their fixture rows alone (the
warehouse is not opened: the definitions are loaded without binding dynamic key sets)."""

from __future__ import annotations

from assetflow.app.session import Session
from assetflow.core.asset_tests import TestResult
from assetflow.core.graph import AssetGraph
from assetflow.defs.loader import load_definitions
from assetflow.errors import SelectionError
from assetflow.run.asset_tests import run_asset_test


def run_tests(session: Session, selection: tuple[str, ...] = ()) -> list[TestResult]:
    """The outcome of every asset test of the selected assets (all by default; a test may be
    named too), by name."""
    defs = load_definitions(session.project.definitions_dir)
    graph = AssetGraph(defs)
    if selection and not defs.assets:
        raise SelectionError(f"{session.project.definitions_dir} declares no assets")
    named = [s for s in selection if s in defs.tests]  # a test by its name
    patterns = [s for s in selection if s not in defs.tests]
    chosen = set(graph.select(patterns)) if patterns or not selection else set()
    tests = [t for t in defs.tests.values() if t.asset in chosen or t.name in named]
    return [run_asset_test(t, defs, session.project.root, session.now) for t in tests]


def run_tests_of(session: Session, assets: list[str]) -> list[TestResult]:
    """The asset tests of exactly these assets (a plan's, for `materialize --test`)."""
    defs = load_definitions(session.project.definitions_dir)
    tests = [t for t in defs.tests.values() if t.asset in set(assets)]
    return [run_asset_test(t, defs, session.project.root, session.now) for t in tests]
