"""Reads while a run writes (issue 30): what they see, and what they cost the run.

On a fresh copy of the example, January is built first; then a backfill of February..December
runs as a whole process (one task per partition, ASSETFLOW_EXAMPLE_BATCH=1, so it lasts) while
another process reads through it, as fast as it can or at a set pace, each read a session of
its own (a new session with the holder, as a command makes; the definitions loaded once):

- `status` of January (the run does not touch it) must equal its value before the run;
- `status` of the run's range must answer for that range (its assets, its partitions);
- `sql` counts of committed materializations must never go backwards;
- `why` of a January node, the dry run of January, `runs` and `read` must answer.

It prints the reads made, refused and wrong; the backfill's seconds and CPU seconds alone,
with reads at 10 a second served by it, with the same reads of a copy of the warehouse that
no run holds (what the reads cost the run by sharing the machine's cores alone), and with as
many sessions served that each ask `select 1` (the floor: what any read costs the run, a
process and a session; interleaved, medians); and `assetflow sql "select 1"` as a whole process on an idle
warehouse and during a run, and on a copy of the warehouse during the same run (what the
machine's load costs apart from serving; medians).

    python bench/reads_during_run.py [--repeats 2] [--pace 10] [--readers 1] [--rounds 1]
                                     [--each-kind]

(`--each-kind`: also the backfill with reads of one kind alone, each kind in turn: what
each costs the run.)

(`--readers 3 --rounds 4`: the issue's 1,000 reads spread over about two minutes of runs.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backfill_year import fresh_project  # a copy of the example, its landing files too

NOW = "2014-06-01T00:00:00"
KINDS = ("status_january", "status_run", "sql", "why", "dry_run", "runs", "read")
JANUARY = ("2013-01-01", "2013-01-31")
RUN = ("2013-02-01", "2013-12-31")


def assetflow(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSETFLOW_EXAMPLE_BATCH": "1", "COLUMNS": "120"}
    command = [sys.executable, "-m", "assetflow", "--now", NOW, *args]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


def start_backfill(project: Path, concurrency: int = 2, stderr: Any = None) -> subprocess.Popen:
    """The backfill of RUN as a whole process; its output dropped, its errors to `stderr`."""
    env = {**os.environ, "ASSETFLOW_EXAMPLE_BATCH": "1", "COLUMNS": "120"}
    command = [sys.executable, "-m", "assetflow", "--now", NOW, "backfill", "--from", RUN[0],
               "--to", RUN[1], "--yes", "--force", "--concurrency", str(concurrency)]  # fmt: skip
    return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL,
                            stderr=stderr or subprocess.DEVNULL)  # fmt: skip


def reader(
    project: Path, pace: float, out: Path, source: Path | None = None, kinds: tuple = KINDS
) -> None:
    """In its own process: read until the run's progress file is gone; write the tally. The
    definitions are loaded once (as the page keeps them); each read is a session of its own,
    so a new session with the holder. `source`: read that project instead (a copy no run
    holds), while `project`'s run lasts: what the same reads cost the run without serving.
    `kinds`: the reads made, in turn ("select_one": the least a read can be, a session that
    asks `select 1`)."""
    import datetime as dt

    from assetflow.app import queries
    from assetflow.app.config import load_project
    from assetflow.app.materialize import RunOptions, materialize
    from assetflow.app.session import Request, Session
    from assetflow.run.clock import FixedClock

    now = dt.datetime.fromisoformat(NOW)
    settings = load_project(source or project)
    graph = Session(settings, FixedClock(now), now).graph

    def session() -> Session:
        return Session(settings, FixedClock(now), now, graph)

    def status(selection: tuple[str, ...], span: tuple[str, str]) -> list:
        with session() as s:
            snap = queries.status(s, Request(selection, *span))
            return [(a, dict(snap.report.assets[a].counts(t))) for a, t in snap.targets.items()]

    def sql(query: str) -> list:
        with session() as s:
            _, batches = next(iter(queries.run_sql(s, [query])))
            return [row for batch in batches for row in batch]

    def ask(kind: str) -> bool:
        nonlocal last_count
        if kind == "select_one":
            return sql("SELECT 1") == [(1,)]
        if kind == "status_january":
            return status((), JANUARY) == before
        if kind == "status_run":
            found = status(("raw_flights",), RUN)
            return [a for a, _ in found] == ["raw_flights"] and sum(found[0][1].values()) == 334
        if kind == "sql":
            count = sql("SELECT count(*) FROM assetflow.materializations")[0][0]
            right, last_count = count >= last_count, max(count, last_count)
            return right
        if kind == "why":
            with session() as s:
                return queries.why(s, "raw_flights", "2013-01-15").status == "fresh"
        if kind == "dry_run":
            with session() as s:
                return (
                    materialize(s, Request((), *JANUARY), RunOptions(dry_run=True)).plan.nodes == ()
                )
        if kind == "runs":
            with session() as s:
                return len(queries.list_runs(s, 3)) >= 1
        rows = sql("SELECT count(*) FROM daily_carrier_delays WHERE flight_date = '2013-01-15'")
        return rows[0][0] > 0

    before = status((), JANUARY)
    progress = project / "warehouse" / "warehouse.duckdb.run.json"
    tally = empty_tally()
    last_count = 0
    deadline = time.monotonic() + 600
    while not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    n = 0
    while progress.exists() and time.monotonic() < deadline:
        began = time.monotonic()
        kind = kinds[n % len(kinds)]
        n += 1
        try:
            right = ask(kind)
        except Exception as exc:  # noqa: BLE001 - a bench counts what failed
            if not progress.exists():
                break  # the run ended under this read
            tally["refused"] += 1
            tally["errors"].append(f"{kind}: {str(exc)[:200]}")
            right = True
        tally["reads"] += 1
        tally["wrong"] += 0 if right else 1
        tally["kinds"][kind] = tally["kinds"].get(kind, 0) + 1
        if pace:
            time.sleep(max(0.0, 1 / pace - (time.monotonic() - began)))
    out.write_text(json.dumps(tally))


def _counts(status: dict) -> list:
    return [(a["asset"], a["counts"]) for a in status["assets"]]


def one_run(
    project: Path,
    pace: float | None,
    readers: int = 1,
    source: Path | None = None,
    kinds: tuple = KINDS,
) -> tuple[float, float, dict | None]:
    """The backfill's seconds and CPU seconds, with `readers` processes reading at `pace`
    reads a second each (0: as fast as they can; None: no reader), and their tallies summed.
    `source`: the readers read that copy instead, no run holding it; `kinds`: the reads."""
    files = [project.parent / f"tally{i}.json" for i in range(readers if pace is not None else 0)]
    reading = []
    for tally_file in files:
        tally_file.unlink(missing_ok=True)
        more = (["--source", str(source)] if source else []) + ["--kinds", ",".join(kinds)]
        reading.append(subprocess.Popen([sys.executable, __file__, "--reader", str(project),
                                         "--pace", str(pace), "--tally", str(tally_file),
                                         *more]))  # fmt: skip
    began = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        run = start_backfill(project, stderr=err)
        _, code, usage = os.wait4(run.pid, 0)
        seconds = time.perf_counter() - began
        run.returncode = os.waitstatus_to_exitcode(code)
        if run.returncode != 0:
            err.seek(0)
            raise SystemExit(f"backfill failed: {err.read()[-2000:].decode()}")
    cpu = usage.ru_utime + usage.ru_stime
    if not reading:
        return seconds, cpu, None
    total = empty_tally()
    for process, tally_file in zip(reading, files, strict=True):
        process.wait(timeout=120)
        add_tally(total, json.loads(tally_file.read_text()))
    return seconds, cpu, total


def empty_tally() -> dict:
    return {"reads": 0, "refused": 0, "wrong": 0, "kinds": {}, "errors": []}


def add_tally(total: dict, found: dict) -> None:
    """`found`'s reads, refused, wrong, reads per kind and errors added to `total`'s."""
    for key in ("reads", "refused", "wrong"):
        total[key] += found[key]
    for kind, n in found["kinds"].items():
        total["kinds"][kind] = total["kinds"].get(kind, 0) + n
    total["errors"] += found["errors"]


def select_one(project: Path, during: bool) -> float:
    began = time.perf_counter()
    done = assetflow(project, "sql", "select 1", check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"sql failed ({'during a run' if during else 'idle'}): {done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pace", type=float, default=10.0)
    parser.add_argument("--readers", type=int, default=1, help="reader processes, first phase")
    parser.add_argument("--rounds", type=int, default=1, help="backfills, first phase")
    parser.add_argument("--reader", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tally", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kinds", default=",".join(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--each-kind", action="store_true",
                        help="also: the backfill with 10 reads a second of each kind alone")  # fmt: skip
    options = parser.parse_args()
    if options.reader:
        kinds = tuple(options.kinds.split(","))
        reader(options.reader, options.pace, options.tally, options.source, kinds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        project = fresh_project(Path(tmp))
        assetflow(project, "backfill", "--from", JANUARY[0], "--to", JANUARY[1], "--yes")
        assetflow(project, "backfill", "--from", RUN[0], "--to", RUN[1], "--yes")
        # what reads see: `--readers` processes as fast as they go, through `--rounds` runs
        seconds, tally = 0.0, empty_tally()
        for _ in range(options.rounds):
            took, _, found = one_run(project, 0, options.readers)
            assert found is not None
            seconds += took
            add_tally(tally, found)
        print(f"reads through {options.rounds} backfill(s), {seconds:.0f} s in all,"
              f" {options.readers} reader(s) as fast as they go: {tally['reads']} reads,"
              f" {tally['refused']} refused, {tally['wrong']} wrong"
              f" ({', '.join(f'{k} {n}' for k, n in sorted(tally['kinds'].items()))})")  # fmt: skip
        for line in tally["errors"][:5]:
            print("  ", line)
        # what reads cost: the backfill alone against the backfill with reads at --pace,
        # served by it, and the same reads of a copy no run holds (what they cost the run
        # by the machine's cores alone), interleaved; wall and CPU seconds of the backfill
        copy = Path(tmp) / "copy"
        shutil.copytree(project, copy)
        ways = {"alone": (None, None, KINDS), "served": (options.pace, None, KINDS),
                "a copy": (options.pace, copy, KINDS),
                "served, select 1 each": (options.pace, None, ("select_one",))}  # fmt: skip
        if options.each_kind:
            ways |= {f"served, {kind} only": (options.pace, None, (kind,)) for kind in KINDS}
        took: dict[str, list[tuple[float, float]]] = {w: [] for w in ways}
        reads = dict.fromkeys(ways, 0)
        for _ in range(options.repeats):
            for way, (pace, source, kinds) in ways.items():
                seconds, cpu, tally = one_run(project, pace, source=source, kinds=kinds)
                took[way].append((seconds, cpu))
                reads[way] += tally["reads"] if tally else 0
        a, c = (statistics.median(x for x, _ in took["alone"]),
                statistics.median(y for _, y in took["alone"]))  # fmt: skip
        for way in ways:
            w = statistics.median(x for x, _ in took[way])
            u = statistics.median(y for _, y in took[way])
            read = (
                "" if way == "alone" else f", {options.pace:g} reads a second ({reads[way]} reads)"
            )
            print(f"backfill, {way}{read}: {w:.2f} s, {w / a:.3f} x; the backfill's CPU"
                  f" {u:.2f} s, {u / c:.3f} x (medians of {options.repeats})")  # fmt: skip
        # one whole `assetflow sql "select 1"`, idle and during a run on one core (on two,
        # every process start on this 2-core machine waits for a core, whatever it reads);
        # during the run, alternated with the same on a copy of the warehouse that no run
        # holds: what the machine's load costs any command, apart from what serving costs
        other = Path(tmp) / "other"
        shutil.copytree(project, other)
        idle = [select_one(project, False) for _ in range(7)]
        run = start_backfill(project, concurrency=1)
        while not (project / "warehouse" / "warehouse.duckdb.reads").exists():
            time.sleep(0.05)
        busy, beside = [], []
        for _ in range(7):
            busy.append(select_one(project, True))
            beside.append(select_one(other, True))
        run.communicate()
        i, d, o = (statistics.median(x) for x in (idle, busy, beside))
        print(
            f'assetflow sql "select 1": idle {i * 1000:.0f} ms, during a run {d * 1000:.0f} ms'
            f" (+{(d - i) * 1000:.0f} ms); on a warehouse no run holds, during the same run,"
            f" {o * 1000:.0f} ms: serving {(d - o) * 1000:+.0f} ms, the machine's load"
            f" {(o - i) * 1000:+.0f} ms (medians of 7)"
        )


if __name__ == "__main__":
    main()
