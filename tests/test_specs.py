import importlib.util
import itertools
import textwrap

import pytest

from assetflow.errors import DefinitionError

_counter = itertools.count()


def load_asset(tmp_path, body: str, name: str = "thing"):
    """Import `body` from a real file and return the asset named `name`."""
    path = tmp_path / f"mod_{next(_counter)}.py"
    path.write_text("from assetflow import asset, daily, window\n" + textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


BASE = """
@asset(partitions=daily("2013-01-01", "2013-01-31"))
def thing(ctx, up):
    return "SELECT a + 1 AS b FROM up"
"""


def test_reformatting_and_comments_keep_the_code_version(tmp_path):
    reformatted = '''
    # a comment above
    @asset(partitions=daily( "2013-01-01",   "2013-01-31" ))
    def thing(ctx,
              up):
        """A docstring is documentation, not code."""
        # a comment inside
        return  "SELECT a + 1 AS b FROM up"   # trailing comment
    '''
    assert load_asset(tmp_path, BASE).code_version == load_asset(tmp_path, reformatted).code_version


def test_a_changed_expression_changes_the_code_version(tmp_path):
    changed = BASE.replace("a + 1", "a + 2")
    assert load_asset(tmp_path, BASE).code_version != load_asset(tmp_path, changed).code_version


def test_a_changed_mapping_changes_the_code_version(tmp_path):
    windowed = BASE.replace('"2013-01-31")', '"2013-01-31"), deps={"up": window(-1, 0)}')
    assert load_asset(tmp_path, BASE).code_version != load_asset(tmp_path, windowed).code_version


def test_extending_the_partition_range_keeps_the_code_version(tmp_path):
    longer = BASE.replace("2013-01-31", "2013-12-31")
    assert load_asset(tmp_path, BASE).code_version == load_asset(tmp_path, longer).code_version


def test_a_pinned_code_version_wins(tmp_path):
    pinned = BASE.replace('"2013-01-31")', '"2013-01-31"), code_version="v7"')
    assert load_asset(tmp_path, pinned).code_version == "v7"
    changed = pinned.replace("a + 1", "a + 2")
    assert load_asset(tmp_path, changed).code_version == "v7"


def test_dependencies_come_from_parameter_names(tmp_path):
    spec = load_asset(
        tmp_path,
        """
        @asset(deps={"b": window(), "z": None})
        def thing(context, a, b):
            return "SELECT 1"
        """,
    )
    assert [(d.name, d.as_param) for d in spec.deps] == [("a", True), ("b", True), ("z", False)]
    assert spec.context_param == "context"


@pytest.mark.parametrize("bad", ["Thing", "1thing", "thing-x", "thing x", "t" * 64])
def test_invalid_asset_names(tmp_path, bad):
    body = f"""
    @asset(name={bad!r})
    def thing(ctx):
        return "SELECT 1"
    """
    with pytest.raises(DefinitionError, match="invalid name"):
        load_asset(tmp_path, body)


def test_groups_are_simple_names(tmp_path):
    body = """
    @asset(group={group!r})
    def thing(ctx):
        return "SELECT 1"
    """
    assert load_asset(tmp_path, body.format(group="orders")).group == "orders"
    with pytest.raises(DefinitionError, match="group= must be a simple name"):
        load_asset(tmp_path, body.format(group="my orders"))


def test_only_parameters_the_body_reads_get_a_relation(tmp_path):
    sql = load_asset(tmp_path, """
    @asset
    def thing(ctx, a, b):
        return "SELECT * FROM a JOIN b USING (k)"
    """)  # fmt: skip
    assert sql.used_params == frozenset()
    python = load_asset(tmp_path, """
    @asset
    def thing(ctx, a, b):
        return a.filter("k > 0") if ctx else b
    """)  # fmt: skip
    assert python.used_params == {"a", "b"}


def test_a_check_failure_counts_its_rows_in_words():
    from assetflow.core.checks import accepted_values, not_null, row_count

    assert not_null("id").failure(1) == "1 row has nulls"
    assert not_null("id").failure(3) == "3 rows have nulls"
    assert accepted_values("c", ["a"]).failure(1) == "1 row has a value outside the accepted list"
    assert row_count(min=1).failure(1) == "1 partition outside the expected row count"
