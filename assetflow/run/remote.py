"""A task's compute step in another process: what a process pool or a cluster worker calls.

The coordinator reads the task's inputs from the warehouse as Arrow (`read_inputs`) and
hands them over with the Task; the worker loads the project's definitions once per process,
computes the rows in an in-memory DuckDB (`compute.compute_arrow`) and hands back an Arrow
table. The coordinator then writes it through the store writer like any other task, so
data, lineage and checks still commit in one transaction.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from assetflow.core.definitions import Definitions
from assetflow.defs.loader import load_definitions
from assetflow.run.compute import arrow_table, compute_arrow, input_sql
from assetflow.run.runlog import NodeLog
from assetflow.run.task import Task
from assetflow.run.worker import task_context
from assetflow.store.store import Store


def read_inputs(store: Store, defs: Definitions, root: Path, task: Task) -> dict[str, Any]:
    """Per dependency, the partitions the task reads, as a `pyarrow.Table`."""
    cur = store.cursor()
    schema = store.env.read_schema
    return {
        rng.name: arrow_table(cur.sql(input_sql(rng, defs, root, schema))) for rng in task.reads
    }


@functools.cache
def _definitions(folder: str) -> Definitions:
    return load_definitions(Path(folder))


def compute_task(definitions_dir: str, task: Task, inputs: dict[str, Any]) -> Any:
    """Run in the worker process: the task's rows as a `pyarrow.Table`."""
    defs = _definitions(definitions_dir)
    spec = defs.assets[task.asset]
    log = NodeLog(Path(task.log_path))
    log.begin(task.header)
    try:
        return compute_arrow(spec, lambda conn: task_context(task, spec, conn, log, defs), inputs)
    finally:
        log.close()
