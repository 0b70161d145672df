"""Every definition mistake: one line naming file and asset, exit 2, the warehouse unchanged."""

import pytest
from conftest import Project


def snapshot(project: Project):
    if not project.warehouse.exists():
        return None
    tables = project.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    )
    content = {t: project.query(f'SELECT * FROM "{t}" ORDER BY ALL') for (t,) in tables}
    content["_materializations"] = project.query(
        "SELECT asset, partition, data_version FROM assetflow.materializations ORDER BY ALL"
    )
    return content


def check_rejected(project: Project, *fragments: str, args=("materialize",)):
    before = snapshot(project)
    result = project.run(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(project) == before


@pytest.fixture
def good(built_diamond: Project) -> Project:
    """The diamond, materialized, so a mistake has something to leave unchanged."""
    return built_diamond


def test_import_error(good):
    good.write("definitions/broken.py", "import no_such_module_here\n")
    check_rejected(good, "definitions/broken.py:1", "cannot import", "no_such_module_here")


def test_syntax_error(good):
    good.write("definitions/broken.py", "def oops(:\n")
    check_rejected(good, "broken.py:1", "cannot import", "SyntaxError")


def test_duplicate_asset_name(good):
    good.write(
        "definitions/again.py",
        """
        from assetflow import asset

        @asset
        def doubled(ctx):
            return "SELECT 1 AS x"
        """,
    )
    check_rejected(good, "duplicate asset name 'doubled'", "again.py", "assets.py")


def test_unknown_dependency(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset

        @asset
        def lonely(ctx, nobody):
            return "SELECT 1 AS x"
        """,
    )
    check_rejected(good, "more.py:4", "lonely", "unknown dependency 'nobody'")


def test_cycle_is_printed(fixture_project):
    project = fixture_project("cycle")
    check_rejected(project, "dependency cycle", "first -> second -> third -> first")


def test_invalid_asset_name(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset

        @asset(name="Bad-Name")
        def whatever(ctx):
            return "SELECT 1 AS x"
        """,
    )
    check_rejected(good, "more.py:4", "Bad-Name", "invalid name")


def test_sql_keyword_as_name(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset

        @asset
        def select(ctx):
            return "SELECT 1 AS x"
        """,
    )
    check_rejected(good, "more.py", "'select' is an SQL keyword")


def test_mapping_that_does_not_fit(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset, window

        @asset(deps={"doubled": window(-3, 0)})
        def everything(ctx, doubled):
            return "SELECT count(*) AS n FROM doubled"
        """,
    )
    check_rejected(good, "more.py:4", "everything", "mapping for 'doubled' does not fit")


def test_function_returning_the_wrong_type(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def numbers(ctx, doubled):
            return 42
        """,
    )
    check_rejected(
        good, "more.py:4", "numbers[2024-01-01]", "returned int", args=("materialize", "numbers")
    )


def test_sql_error_names_asset_and_partition(good):
    good.write(
        "definitions/more.py",
        """
        from assetflow import asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def typo(ctx, doubled):
            return "SELECT no_such_column FROM doubled"
        """,
    )
    check_rejected(
        good,
        "more.py:4",
        "typo[2024-01-01]",
        "SQL error",
        "no_such_column",
        args=("materialize", "typo"),
    )


def test_missing_definitions_folder(project):
    (project.root / "definitions").rmdir()
    check_rejected(project, "definitions folder", "not found")


def test_group_commit_below_one(project):
    (project.root / "pyproject.toml").write_text("[tool.assetflow]\ngroup_commit = 0\n")
    check_rejected(project, "pyproject.toml", "group_commit", "greater than or equal to 1")


def test_bad_config_key(project):
    (project.root / "pyproject.toml").write_text("[tool.assetflow]\nwarehose = 'x.duckdb'\n")
    check_rejected(project, "pyproject.toml", "warehose", "known keys")
