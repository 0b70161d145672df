"""Repair and backfill --only (issue 19): failed and missing nodes across partitionings, in
one run, oldest first; stale ones left for materialize."""

import json

import pytest


@pytest.fixture
def project(on_each_storage):
    """Every scenario here holds on both storages (the parity suite)."""
    return on_each_storage


PIPELINE = """
import os
from assetflow import asset, daily, monthly, source

DAYS = daily("2024-01-01", "2024-02-29")


@source(partitions=DAYS, path="landing/{partition}.csv")
def readings(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(partitions=DAYS)
def cleaned(ctx, readings):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError(f"bad readings on {ctx.partition}")
    return "SELECT v FROM readings"


@asset(partitions=DAYS)
def daily_copy(ctx, cleaned):
    return "SELECT v FROM cleaned"


@asset(partitions=monthly("2024-01", "2024-02"))
def monthly_total(ctx, cleaned):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError(f"bad month {ctx.partition}")
    return "SELECT sum(v) AS v FROM cleaned"
"""


FLAGS = ("fail-2024-02-03", "fail-2024-01")  # a day of February, and January's total


def _by_state(project):
    report = json.loads(project.run("status", "--json").output)
    out = {}
    for a in report["assets"]:
        for n in a["nodes"]:
            out.setdefault(n["status"], set()).add((a["asset"], n["partition"]))
    return out


def _setup(project, monkeypatch):
    monkeypatch.chdir(project.root)
    project.write("definitions/pipeline.py", PIPELINE)
    for day in range(1, 61):
        date = f"2024-{1 + (day > 31):02d}-{day - 31 * (day > 31):02d}"
        project.write(f"landing/{date}.csv", "v\n1\n")
    for flag in FLAGS:
        project.write(flag, "")
    first = project.run("materialize")
    assert first.exit_code == 1, first.output


def test_repair_runs_the_failed_and_missing_nodes_and_leaves_stale_ones(project, monkeypatch):
    _setup(project, monkeypatch)
    before = _by_state(project)
    assert before["failed"] == {("cleaned", "2024-02-03"), ("monthly_total", "2024-01")}
    # What read the failed day has not run: missing.
    assert before["missing"] == {("daily_copy", "2024-02-03"), ("monthly_total", "2024-02")}
    for flag in FLAGS:
        (project.root / flag).unlink()
    project.write("landing/2024-01-20.csv", "v\n5\n")  # cleaned[2024-01-20] is now stale
    repaired = project.run("repair")
    assert repaired.exit_code == 0, repaired.output
    # The four, and cleaned[2024-01-20]: January's total reads it.
    assert "5 of 5 nodes materialized" in repaired.output
    assert _by_state(project) == {"stale": {("daily_copy", "2024-01-20")}}
    [run] = [
        r for r in json.loads(project.run("runs", "--json").output) if r["trigger"] == "repair"
    ]
    detail = json.loads(project.run("runs", "show", run["run_id"], "--json").output)
    assert sorted((a["asset"], a["partition"]) for a in detail["attempts"]) == [
        ("cleaned", "2024-01-20"), ("cleaned", "2024-02-03"), ("daily_copy", "2024-02-03"),
        ("monthly_total", "2024-01"), ("monthly_total", "2024-02"),
    ]  # fmt: skip


def test_backfill_only_failed_or_missing(project, monkeypatch):
    _setup(project, monkeypatch)
    for flag in FLAGS:
        (project.root / flag).unlink()
    only_failed = project.run(
        "backfill", "cleaned", "--from", "2024-01-01", "--to", "2024-02-29", "--only", "failed"
    )
    assert only_failed.exit_code == 0, only_failed.output
    assert _by_state(project) == {
        "failed": {("monthly_total", "2024-01")},
        "missing": {("daily_copy", "2024-02-03"), ("monthly_total", "2024-02")},
    }
    only_missing = project.run(
        "backfill", "monthly_total", "--from", "2024-01", "--to", "2024-02", "--only", "missing"
    )
    assert only_missing.exit_code == 0, only_missing.output
    assert _by_state(project) == {
        "failed": {("monthly_total", "2024-01")},
        "missing": {("daily_copy", "2024-02-03")},
    }
