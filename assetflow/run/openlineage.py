"""OpenLineage run events for the nodes a run materializes (the `openlineage` extra).

One OpenLineage run per node: job = the asset (in the project's namespace), run id a UUID
made from the assetflow run, asset and partition, and the assetflow run as its parent. START
is sent when the node's task starts, COMPLETE when it is written, FAIL when it failed for
good; nodes that did not run (verified unchanged by early cutoff, upstream_failed, not run)
send nothing. Inputs and output are datasets named `main.ASSET` in the warehouse's namespace
(sources: their name in the project's), with schema facets where the table exists. Events
are sent from one background thread, so a slow receiver never slows the run; one that
fails is one warning of the run, never a failure.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assetflow.core.definitions import Definitions
from assetflow.core.planner import PlannedNode
from assetflow.core.records import AttemptStatus, NodeResult
from assetflow.core.sql_lineage import ColumnLineage
from assetflow.errors import ConfigError

PRODUCER = "https://github.com/assetflow/assetflow"
RUN_JOB = "assetflow_run"  # the parent job: one assetflow run
_NAMESPACE = uuid.UUID("6a1f3f0e-4f0b-4d55-9d43-5f0c2d9a7e11")  # for run ids


def node_run_id(run_id: str, asset: str, partition: str) -> str:
    """The OpenLineage run id of one node of an assetflow run (the same every time)."""
    return str(uuid.uuid5(_NAMESPACE, f"{run_id}/{asset}/{partition}"))


def make_client(settings: dict[str, Any], root: Path) -> Any:
    """An OpenLineage client for `[tool.assetflow.openlineage]`: transport "http" (url, and
    optionally endpoint) or "file" (path, relative to the project; one JSON event a line)."""
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        raise ConfigError(
            "[tool.assetflow.openlineage] needs the openlineage-python client",
            "pip install 'assetflow[openlineage]'",
        ) from None
    kind = settings.get("transport")
    if kind == "http" and settings.get("url"):
        # Two quick retries: a receiver that is down costs a run about a second, once.
        retry = {"total": 2, "backoff_factor": 0.2, "status_forcelist": [500, 502, 503, 504],
                 "allowed_methods": ["POST"]}  # fmt: skip
        transport = {"type": "http", "url": settings["url"], "retry": retry, "timeout": 5}
        if settings.get("endpoint"):
            transport["endpoint"] = settings["endpoint"]
    elif kind == "file" and settings.get("path"):
        path = (root / str(settings["path"])).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        transport = {"type": "file", "log_file_path": str(path), "append": True}
    else:
        raise ConfigError(
            '[tool.assetflow.openlineage] needs transport = "http" with url, or'
            ' transport = "file" with path'
        )
    return OpenLineageClient(config={"transport": transport})


class LineageEvents:
    """Builds and sends a run's node events (see the module text)."""

    def __init__(
        self,
        client: Any,
        namespace: str,
        warehouse: str,
        run_id: str,
        defs: Definitions,
        columns: Callable[[str], dict[str, str]],
        clock: Callable[[], dt.datetime],
        lineage: Callable[[str], ColumnLineage | None] = lambda asset: None,
    ) -> None:
        self.client, self.namespace, self.run_id, self.defs = client, namespace, run_id, defs
        self.warehouse = f"duckdb://{warehouse}"
        self.columns, self.clock, self.lineage = columns, clock, lineage
        self.warnings: list[str] = []
        self._tables: dict[str, dict[str, str]] = {}  # columns by asset, until it is written
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._send, name="openlineage", daemon=True)
        self._thread.start()

    def started(self, task: list[PlannedNode]) -> None:
        for p in task:
            self._queue.put(self._event("START", p, None))

    def settled(self, planned: PlannedNode, result: NodeResult) -> None:
        if result.status == AttemptStatus.SUCCESS:
            self._tables.pop(planned.node.asset, None)  # the write may have changed them
            self._queue.put(self._event("COMPLETE", planned, result))
        elif result.status == AttemptStatus.FAILED:
            self._queue.put(self._event("FAIL", planned, result))

    def close(self, timeout: float = 10.0) -> list[str]:
        """Wait (up to `timeout` seconds) for the events to go; the warnings of those that
        could not."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.warnings.append(f"openlineage: events still unsent after {timeout:g} s")
        return self.warnings

    def _send(self) -> None:
        """Send events in order; after one that could not go, count the rest unsent (the
        receiver is down: each would wait out the client's retries)."""
        failure, unsent = "", 0
        while (event := self._queue.get()) is not None:
            if failure:
                unsent += 1
                continue
            try:
                self.client.emit(event)
            except Exception as exc:  # a receiver's failure is the run's warning, not its end
                failure, unsent = f"{type(exc).__name__}: {exc}"[:240], 1
        if failure:
            self.warnings.append(f"openlineage: {failure}; {unsent} event(s) of this run not sent")

    def _event(self, state: str, p: PlannedNode, result: NodeResult | None) -> Any:
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.facet_v2 import (
            error_message_run,
            nominal_time_run,
            output_statistics_output_dataset,
            parent_run,
            tags_run,
        )

        asset, partition = p.node.asset, p.node.partition
        spec = self.defs.assets[asset]
        facets: dict[str, Any] = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=str(uuid.uuid5(_NAMESPACE, self.run_id))),
                job=parent_run.Job(namespace=self.namespace, name=RUN_JOB),
            ),
            "tags": tags_run.TagsRunFacet(tags=[
                tags_run.TagsRunFacetFields("partition", partition, "assetflow"),
                tags_run.TagsRunFacetFields("assetflow_run_id", self.run_id, "assetflow"),
                tags_run.TagsRunFacetFields("code_version", spec.code_version, "assetflow"),
            ]),
        }  # fmt: skip
        start, end = spec.partitions.window(p.index)
        if start is not None and end is not None:
            facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=_iso(start), nominalEndTime=_iso(end)
            )
        if state == "FAIL" and result is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=result.error or "failed", programmingLanguage="python"
            )
        inputs = [
            InputDataset(namespace=ns, name=name, facets=self._schema(dep.name))
            for dep in spec.deps
            for ns, name in [self._dataset(dep.name)]
        ]
        output_facets: dict[str, Any] = {}
        if result is not None and result.rows is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=result.rows
                )
            )
        ns, name = self._dataset(asset)
        facets_out = self._schema(asset) if state != "START" else {}
        if state == "COMPLETE":
            facets_out |= self._column_lineage(asset)
        output = OutputDataset(
            namespace=ns, name=name, facets=facets_out, outputFacets=output_facets
        )
        return RunEvent(
            eventType=RunState[state],
            eventTime=_iso(self.clock()),
            run=Run(runId=node_run_id(self.run_id, asset, partition), facets=facets),
            job=Job(namespace=self.namespace, name=asset),
            inputs=inputs,
            outputs=[output],
            producer=PRODUCER,
        )

    def _dataset(self, name: str) -> tuple[str, str]:
        if name in self.defs.sources:
            return self.namespace, f"source.{name}"
        return self.warehouse, f"main.{name}"

    def _column_lineage(self, asset: str) -> dict[str, Any]:
        """The output's columnLineage facet, for SQL assets whose lineage is known."""
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        found = self.lineage(asset)
        if found is None:
            return {}
        fields = {
            column: cl.Fields(inputFields=[
                cl.InputField(namespace=ns, name=name, field=c)
                for t, c in sources
                for ns, name in [self._dataset(t)]
            ])
            for column, sources in found.outputs
            if sources
        }  # fmt: skip
        return {"columnLineage": cl.ColumnLineageDatasetFacet(fields=fields)} if fields else {}

    def _schema(self, name: str) -> dict[str, Any]:
        from openlineage.client.facet_v2 import schema_dataset

        if name not in self.defs.assets:
            return {}
        if name not in self._tables:  # read once per asset and write, not once per event
            self._tables[name] = self.columns(name)
        found = self._tables[name]
        if not found:
            return {}
        fields = [schema_dataset.SchemaDatasetFacetFields(name=c, type=t) for c, t in found.items()]
        return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}


def _iso(value: dt.date | dt.datetime) -> str:
    """ISO 8601 with a time and a zone (a date is its midnight; naive is UTC)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()
