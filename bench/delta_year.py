"""The example's year on Delta Lake against the warehouse file (the storage-seam issue's
point 3: Delta within 1.5 x of the embedded run, and far fewer files).

Each round materializes 2013 from empty in two fresh copies of the example, one per storage
(`storage = "delta"`, `storage_path = "lake"` in one), alternating, as whole processes:
`assetflow --now 2014-06-01T00:00:00 materialize --from 2013-01-01 --to 2013-12-31`.
The landing files are made once and copied into every copy.

    python bench/delta_year.py [--repeats 3] [--concurrency 2] [--executor threads]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOW = "2014-06-01T00:00:00"
STORAGES = {"warehouse file": "", "delta": 'storage = "delta"\nstorage_path = "lake"\n'}


def project(work: Path, name: str, settings: str, landing: Path | None) -> Path:
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(
        REPO / "definitions", root / "definitions", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "pyproject.toml").write_text(f"[tool.assetflow]\n{settings}")
    if landing is not None:
        shutil.copytree(landing, root / "landing")
    return root


def assetflow(root: Path, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "assetflow", "--now", NOW, *args],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{root.name}: assetflow {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def files_and_bytes(root: Path) -> tuple[int, int]:
    """Files and bytes of what the run stored: the warehouse folder and the lake."""
    count = size = 0
    for folder in (root / "warehouse", root / "lake"):
        for dirpath, _, names in os.walk(folder):
            count += len(names)
            size += sum(os.path.getsize(os.path.join(dirpath, n)) for n in names)
    return count, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--executor", default="threads")
    args = parser.parse_args()
    run = ["materialize", "--from", "2013-01-01", "--to", "2013-12-31"]
    run += ["--concurrency", str(args.concurrency), "--executor", args.executor]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed = project(work, "seed", "", None)
        assetflow(seed, "assets")  # loading the definitions lands the year's files
        times: dict[str, list[float]] = {name: [] for name in STORAGES}
        stored: dict[str, tuple[int, int]] = {}
        for _ in range(args.repeats):
            for name, settings in STORAGES.items():
                root = project(work, name.replace(" ", "_"), settings, seed / "landing")
                times[name].append(assetflow(root, *run))
                stored[name] = files_and_bytes(root)
    base = statistics.median(times["warehouse file"])
    print(f"the example's 2013, {args.executor}, concurrency {args.concurrency},"
          f" medians of {args.repeats}, whole processes")  # fmt: skip
    for name in STORAGES:
        median = statistics.median(times[name])
        count, size = stored[name]
        print(
            f"  {name:15} {median:7.2f} s   x {median / base:4.2f} of the warehouse file"
            f"   {count:6,} files  {size / 1e6:6.1f} MB"
        )


if __name__ == "__main__":
    main()
