"""An asset's code version covers the helpers and constants its body reads (issue 35 item
3, in part): editing one stales exactly its users; what it cannot see, `why` says."""

import json
import os
import sys

import pytest
from conftest import FIXTURES, make_project

NOW = "2024-02-01T00:00:00"


@pytest.fixture
def helpers(tmp_path, monkeypatch):
    project = make_project(tmp_path / "p", FIXTURES / "helpers")
    shared = tmp_path / "lib"
    shared.mkdir()
    (shared / "shared_sql.py").write_text("def outside():\n    return '7'\n")
    monkeypatch.syspath_prepend(str(shared))
    sys.modules.pop("shared_sql", None)
    assert project.run("materialize", now=NOW).exit_code == 0
    return project


def stale(project) -> set[str]:
    status = json.loads(project.run("status", "--json", now=NOW).output)
    return {a["asset"] for a in status["assets"] if a["counts"]["stale"]}


def edit(project, old: str, new: str) -> None:
    path = project.root / "definitions" / "assets.py"
    path.write_text(path.read_text().replace(old, new))


def test_editing_a_helper_stales_exactly_its_users(helpers):
    assert stale(helpers) == set()
    edit(helpers, "({column} + 0)", "({column} + 1)")  # a helper of a helper
    assert stale(helpers) == {"uses_helper"}


def test_editing_a_constant_stales_exactly_its_users(helpers):
    edit(helpers, "FACTOR = 3", "FACTOR = 4")
    assert stale(helpers) == {"uses_constant"}
    helpers.run("materialize", now=NOW)
    edit(helpers, '{"a": "alpha"}', '{"a": "ALPHA"}')
    assert stale(helpers) == {"uses_constant"}


def test_the_code_that_runs_is_the_text_on_disk_whatever_a_cached_pyc_says(helpers):
    """Python trusts a .pyc whose recorded mtime and size match the source: an edit of the same
    size in the same second (or a deploy that resets mtimes) would run the old code under the
    new code version. The loader compiles the text itself."""
    sys.dont_write_bytecode = False  # a .pyc is written, as on a machine that allows it
    path = helpers.root / "definitions" / "assets.py"
    before = path.stat()
    helpers.run("status", now=NOW)
    edit(helpers, "FACTOR = 3", "FACTOR = 5")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert stale(helpers) == {"uses_constant"}
    assert helpers.run("materialize", now=NOW).exit_code == 0
    assert helpers.query("SELECT DISTINCT v FROM uses_constant") == [(5,)]


def test_comments_and_layout_of_a_helper_change_nothing(helpers):
    edit(
        helpers,
        '    return f"({column} + 0)"',
        '    # the same, commented\n    return f"({column} + 0)"',
    )
    assert stale(helpers) == set()


def test_why_says_what_the_code_version_cannot_see(helpers):
    found = helpers.run("why", "uses_outside", "2024-01-02", now=NOW)
    assert found.exit_code == 0
    assert "uses_outside's code version does not see outside" in found.output
    assert "does not see" not in helpers.run("why", "uses_helper", "2024-01-02", now=NOW).output
    listed = json.loads(helpers.run("assets", "--json", now=NOW).output)
    assert {a["asset"]: a["unseen"] for a in listed}["uses_outside"] == ["outside"]


NESTED = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-03")


def helper():
    return "1 AS x"


if True:

    @asset(partitions=DAYS)
    def in_a_branch(ctx):
        return f"SELECT {helper()}"


def make(name):
    @asset(partitions=DAYS, name=name)
    def made(ctx):
        return f"SELECT {helper()}"

    return made


made_one = make("made_one")


class Holder:
    @staticmethod
    def method(ctx):
        return f"SELECT {helper()}"


in_a_class = asset(partitions=DAYS, name="in_a_class")(Holder.method)
"""


def test_assets_defined_in_branches_factories_and_classes_follow_their_helpers(tmp_path):
    """Their definitions are found inside statements (not only at the top), so their code
    version covers the helper they read: editing it changes each one's."""
    from assetflow.defs.loader import load_definitions

    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "nested.py").write_text(NESTED)
    before = {n: s.code_version for n, s in load_definitions(folder).assets.items()}
    assert set(before) == {"in_a_branch", "made_one", "in_a_class"}
    (folder / "nested.py").write_text(NESTED.replace('"1 AS x"', '"2 AS x"'))
    sys.modules.pop("definitions.nested", None)
    after = {n: s.code_version for n, s in load_definitions(folder).assets.items()}
    assert all(after[n] != before[n] for n in before), (before, after)
