"""Task logs in files, not in the database: `logs/<run>/<asset>/<partition>.log`.

Each file holds every attempt of one node: ctx.log lines, what the asset printed to stdout
and stderr (captured per thread), and the traceback of a failed attempt.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import shutil
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from assetflow.errors import SelectionError
from assetflow.run.clock import Clock
from assetflow.run.task import span_label


class NodeLog:
    """The log file of one node in one run, created on the first line worth keeping: a node
    that logs, prints and raises nothing costs no file (a run of thousands of quiet SQL
    nodes would otherwise create thousands of one-line files)."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._handle: TextIO | None = None
        self._pending = ""  # the current attempt's header, until the attempt writes
        self._written = False
        self._closed = False
        self._logger: logging.Logger | None = None
        self.lost: str | None = None  # why lines were dropped (the file could not be written)

    @property
    def logger(self) -> logging.Logger:
        """A logger writing to this file (`ctx.log`); made on first use."""
        if self._logger is None:
            logger = logging.Logger(f"assetflow.node.{self.path.stem}")  # unregistered
            handler = logging.StreamHandler(self)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            if self.clock is not None:  # lines stamped by the run's clock, not the machine's
                handler.addFilter(_Stamp(self.clock))
            logger.addHandler(handler)
            self._logger = logger
        return self._logger

    def begin(self, header: str) -> None:
        """Start an attempt: its header goes to the file with the attempt's first line."""
        with self._lock:
            if self._handle is None:
                self._pending = header
            else:
                self._handle.write(header)

    def write(self, text: str) -> int:
        with self._lock:
            if self.lost is not None:
                return len(text)
            try:
                if self._handle is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._handle = self.path.open("a", encoding="utf-8")
                    self._handle.write(self._pending)
                    self._pending = ""
                    self._written = True
                self._handle.write(text)
                if self._closed:  # a line after close (an alert delivered later): no handle
                    self._handle.close()
                    self._handle = None
            except OSError as exc:
                self._give_up(exc)
            return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._handle is not None:
                try:
                    self._handle.flush()
                except OSError as exc:
                    self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        """A log that cannot be written (a full disk) is given up, never the node or the run:
        `lost` says why, and the run says so once."""
        self.lost = f"{self.path}: {exc.strerror or exc}"
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._handle is not None:
                try:
                    self._handle.close()  # flushes: a full disk says so here
                except OSError as exc:
                    self._give_up(exc)
                self._handle = None

    @property
    def written(self) -> bool:
        return self._written


class _Stamp(logging.Filter):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = self.clock().replace(tzinfo=dt.UTC).timestamp()
        return True


def node_log_path(logs_dir: Path, run_id: str, asset: str, first: str, last: str) -> Path:
    """A task's log file, named for its partition key, or a batch's for its range
    (`2013-01-01..2013-01-31.log`). Keys come from data (dynamic keys): each is written as
    one file name, whatever it holds (`../x` stays inside the folder as `%2E%2E%2Fx`)."""
    return logs_dir / run_id / asset / f"{span_label(_file_name(first), _file_name(last))}.log"


def _file_name(key: str) -> str:
    """A key as a file name: letters, digits, `-`, `_` and `+` as they are, the rest (`/`,
    `.`, `|`, `:` ...) percent-encoded."""
    return urllib.parse.quote(key, safe="+", encoding="utf-8").replace(".", "%2E")


def _holds(label: str, partition: str) -> bool:
    """Whether a log named `label` (a key, or a batch's `first..last`) covers `partition`:
    keys of one partitioning sort as their dates do."""
    first, _, last = label.partition("..")
    first, last = urllib.parse.unquote(first), urllib.parse.unquote(last)
    return first <= partition <= (last or first)


class _ThreadStream(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: a thread bound to a NodeLog writes there."""

    def __init__(self, original: TextIO, label: str) -> None:
        self.original = original
        self.label = label
        self.local = threading.local()

    def write(self, text: str) -> int:
        target: NodeLog | None = getattr(self.local, "target", None)
        if target is None:
            return self.original.write(text)
        return target.write(text if self.label == "stdout" else f"[stderr] {text}")

    def flush(self) -> None:
        self.original.flush()

    # What the stream is, for whoever asks (rich animates a progress bar only on a terminal).
    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


_streams: tuple[_ThreadStream, _ThreadStream] | None = None


@contextmanager
def captured_output() -> Iterator[None]:
    """Route what node threads print into their logs for the duration of a run."""
    global _streams
    if _streams is not None:  # nested runs (tests): keep the outer capture
        yield
        return
    out, err = _ThreadStream(sys.stdout, "stdout"), _ThreadStream(sys.stderr, "stderr")
    _streams = (out, err)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out.original, err.original
        _streams = None


@contextmanager
def bound(log: NodeLog) -> Iterator[None]:
    """While inside, this thread's prints go to `log`."""
    if _streams is None:
        yield
        return
    for stream in _streams:
        stream.local.target = log
    try:
        yield
    finally:
        for stream in _streams:
            stream.local.target = None


def prune(logs_dir: Path, keep_days: int, now: dt.datetime, keep: str = "") -> int:
    """Delete run log folders last written more than `keep_days` before `now` (never the
    folder of run `keep`, whatever the clock says); returns how many went."""
    if not logs_dir.is_dir():
        return 0
    cutoff = now.replace(tzinfo=dt.UTC).timestamp() - keep_days * 86400
    removed = 0
    for run_dir in logs_dir.iterdir():
        if run_dir.is_dir() and run_dir.name != keep and run_dir.stat().st_mtime < cutoff:
            shutil.rmtree(run_dir, ignore_errors=True)
            removed += 1
    return removed


_NOT_A_NAME = re.compile(r"[/\\*?\[\]]|^\.|\.\.")  # separators, globs, dot-names


def log_text(
    logs_dir: Path, run_id: str, asset: str | None = None, partition: str | None = None
) -> str:
    """The log files `find_logs` finds, each under a `==> path <==` line (`assetflow logs`,
    and the web page)."""
    return "".join(
        f"==> {path.relative_to(logs_dir)} <==\n{path.read_text(encoding='utf-8')}"
        for path in find_logs(logs_dir, run_id, asset, partition)
    )


def find_logs(
    logs_dir: Path, run_id: str, asset: str | None = None, partition: str | None = None
) -> list[Path]:
    """Log files of a run (a unique prefix of its id is enough), optionally one asset/node.
    Names are names, not paths: nothing outside the logs folder is ever read (a partition
    key is compared with the files' names, never joined to a path)."""
    for what, value in (("run", run_id), ("asset", asset)):
        if value is not None and (not value or _NOT_A_NAME.search(value)):
            raise SelectionError(f"{what} {value!r} is not a name", "see `assetflow runs`")
    runs = sorted(p for p in logs_dir.glob(f"{run_id}*") if p.is_dir()) if logs_dir.is_dir() else []
    if not runs:
        raise SelectionError(
            f"no logs for run {run_id!r} in {logs_dir}",
            "a node gets a log file only when it logs, prints or fails; see `assetflow runs`",
        )
    if len(runs) > 1:
        raise SelectionError(
            f"run prefix {run_id!r} is ambiguous: {', '.join(p.name for p in runs)}"
        )
    folder = runs[0] / asset if asset else runs[0]
    files = sorted(folder.rglob("*.log")) if folder.is_dir() else []
    if partition:
        files = [f for f in files if _holds(f.stem, partition)]
    inside = logs_dir.resolve()
    files = [f for f in files if f.resolve().is_relative_to(inside)]  # no links out either
    if not files:
        what = " ".join(x for x in (asset, partition) if x)
        raise SelectionError(f"run {runs[0].name} has no logs for {what or 'any node'}")
    return files
