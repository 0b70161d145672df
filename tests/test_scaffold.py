"""`assetflow init`: a new project that materializes at once."""

from conftest import Project


def test_init_scaffolds_a_project_that_materializes(tmp_path):
    folder = tmp_path / "new"
    first = Project(tmp_path).run("init", str(folder), now="2024-05-20T09:00:00")
    assert first.exit_code == 0, first.output
    assert (folder / "definitions" / "assets.py").exists()
    project = Project(folder)
    built = project.run("materialize", now="2024-05-20T09:00:00")
    assert built.exit_code == 0, built.output
    assert "14 of 14 nodes materialized" in built.output  # 7 days x 2 assets
    assert project.query("SELECT sum(events) FROM daily_summary") == [(70,)]
    tested = project.run("test", now="2024-05-20T09:00:00")
    assert tested.exit_code == 0 and "ok counts_a_days_events" in tested.output, tested.output
    again = Project(tmp_path).run("init", str(folder))
    assert again.exit_code == 2 and "already configures" in again.output


def test_init_adds_to_an_existing_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    result = Project(tmp_path).run("init", str(tmp_path), now="2024-05-20T09:00:00")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"') and "[tool.assetflow]" in text
