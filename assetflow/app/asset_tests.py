"""`assetflow test`: the asset tests of a selection, run on their fixture rows alone (the
warehouse is not opened: the definitions are loaded without binding dynamic key sets)."""

from __future__ import annotations

from collections.abc import Callable

from assetflow.app.session import Session
from assetflow.core.asset_tests import TestResult
from assetflow.core.definitions import Definitions
from assetflow.core.graph import AssetGraph
from assetflow.core.specs import AssetTestSpec
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
    return _run(session, defs, lambda t: t.asset in chosen or t.name in named)


def run_tests_of(session: Session, assets: list[str]) -> list[TestResult]:
    """The asset tests of exactly these assets (a plan's, for `materialize --test`)."""
    defs = load_definitions(session.project.definitions_dir)
    return _run(session, defs, lambda t: t.asset in set(assets))


def _run(
    session: Session, defs: Definitions, wanted: Callable[[AssetTestSpec], bool]
) -> list[TestResult]:
    root, now, env = session.project.root, session.now, session.project.env
    return [run_asset_test(t, defs, root, now, env) for t in defs.tests.values() if wanted(t)]
