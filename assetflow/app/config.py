"""Project configuration: `[tool.assetflow]` in the nearest pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assetflow.core.environments import PROD
from assetflow.errors import ConfigError


class RetentionSettings(BaseModel):
    """`[tool.assetflow.retention]`: what `assetflow prune` (and the daemon, daily) keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    history_days: int = Field(default=90, ge=0)  # runs, attempts, ticks, observations, checks
    keep_materializations: int = Field(default=5, ge=1)  # per node, the current one first
    daily: bool = True  # `assetflow tick` (and so the daemon) prunes once a day


class OpenLineageSettings(BaseModel):
    """`[tool.assetflow.openlineage]`: where run events go (docs/operations.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Literal["http", "file"]
    url: str | None = None  # http: the receiver, e.g. http://localhost:5000
    endpoint: str | None = None  # http: default api/v1/lineage
    path: str | None = None  # file: one JSON event a line, relative to the project
    namespace: str | None = None  # the jobs' namespace; default: assetflow/PROJECT_FOLDER


class Settings(BaseModel):
    """Validated `[tool.assetflow]` table. Paths are relative to the project root."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    definitions: str = "definitions"
    warehouse: str = "warehouse/warehouse.duckdb"
    range_from: str | None = Field(default=None, alias="from")
    range_to: str | None = Field(default=None, alias="to")
    concurrency: int = Field(default=2, ge=1, le=64)
    # Up to this many adjacent partitions of one SQL asset in one transaction (1: one each).
    group_commit: int = Field(default=32, ge=1, le=1024)
    log_retention_days: int = Field(default=30, ge=1)
    backfill_confirm_above: int = Field(default=1000, ge=0)
    wipe_confirm_above: int = Field(default=10, ge=0)
    retention: RetentionSettings = RetentionSettings()
    openlineage: OpenLineageSettings | None = None
    ui_url: str | None = None  # where `assetflow ui` is reachable: alerts link to it
    # What the page asks for when it listens off the loopback (ASSETFLOW_UI_TOKEN wins; none:
    # a new one each start, printed in its URL).
    ui_token: str | None = Field(default=None, min_length=16)
    # Where tasks run: threads of this process, or a Dask cluster (docs/scaleout.md).
    executor: Literal["threads", "dask"] = "threads"
    scheduler: str | None = None  # dask: tcp://HOST:8786; none: a LocalCluster here
    dask_workers: int | None = Field(default=None, ge=1, le=256)  # the LocalCluster's size
    # Where asset tables live: in the warehouse file, or as Delta Lake tables.
    storage: Literal["duckdb", "delta"] = "duckdb"
    storage_path: str | None = None  # delta: a folder (relative to the project) or a URI
    storage_options: dict[str, str] = Field(default_factory=dict)  # deltalake's, e.g. AWS_REGION


class Project(BaseModel):
    """Where a project lives and how it is configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path
    settings: Settings
    env: str = PROD  # the environment commands work in (`--env`)

    @property
    def definitions_dir(self) -> Path:
        return self.root / self.settings.definitions

    @property
    def warehouse_path(self) -> Path:
        return self.root / self.settings.warehouse

    @property
    def logs_dir(self) -> Path:
        return self.warehouse_path.parent / "logs"

    def in_env(self, env: str | None) -> Project:
        """This project working in environment `env` (None: the one it works in)."""
        return self if env is None else self.model_copy(update={"env": env})

    def page_url(self, fragment: str) -> str | None:
        """A link to `fragment` (`run/ID`, `asset/NAME`) on the web page, when `ui_url` says
        where it is served; None otherwise."""
        url = self.settings.ui_url
        return f"{url.rstrip('/')}/#{fragment}" if url else None


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` whose pyproject.toml has `[tool.assetflow]`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "[tool.assetflow]" in candidate.read_text(encoding="utf-8"):
            return folder
    return start


def load_project(
    root: Path | None = None, warehouse: str | None = None, env: str | None = None
) -> Project:
    """Read the project at `root` (default: found from the current folder), working in the
    environment `env` (default prod)."""
    root = find_root(Path.cwd()) if root is None else Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"project folder {root} does not exist")
    table: dict[str, object] = {}
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or "[tool.assetflow]" not in pyproject.read_text(encoding="utf-8"):
        raise ConfigError(
            f"{root} is not an assetflow project: no pyproject.toml with [tool.assetflow]"
            " here or above",
            "start one with `assetflow init`, or pass --project FOLDER",
        )
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from None
        table = data.get("tool", {}).get("assetflow", {})
    try:
        settings = Settings.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "[tool.assetflow]"
        raise ConfigError(
            f"{pyproject}: [tool.assetflow] {key}: {first['msg']}",
            "known keys: definitions, warehouse, from, to, concurrency, group_commit,"
            " log_retention_days,"
            " backfill_confirm_above, wipe_confirm_above, retention (history_days,"
            " keep_materializations, daily), openlineage (transport, url, endpoint, path,"
            " namespace), ui_url, ui_token, executor, scheduler, dask_workers, storage,"
            " storage_path, storage_options",
        ) from None
    if settings.storage == "delta" and not settings.storage_path:
        raise ConfigError(
            f'{pyproject}: [tool.assetflow] storage = "delta" needs storage_path',
            "a folder for the Delta tables (relative to the project), or a URI such as"
            " s3://bucket/lake",
        )
    if warehouse is not None:
        settings = settings.model_copy(update={"warehouse": str(Path(warehouse).resolve())})
    return Project(root=root, settings=settings, env=env or PROD)
