"""What a user writes in definitions/: `@asset`, `@source`, `schedule`, `file_sensor`.

Dependencies come from parameter names (a parameter named `ctx` or `context` receives the
run context); `deps=` adds a partition mapping for a parameter or declares a dependency
that is not a parameter. A code version fingerprints the function's AST, read from its
source file, and the helpers and constants it reads (defs/code_version.py).
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assetflow.core.checks import Check
from assetflow.core.mapping_kinds import Mapping, Window
from assetflow.core.partitions import Partitions, unpartitioned
from assetflow.core.policy import RetryPolicy
from assetflow.core.specs import AssetSpec, Dep, ScheduleSpec, SensorSpec, SourceSpec
from assetflow.defs.code_version import fingerprint, function_node
from assetflow.errors import DefinitionError

CONTEXT_PARAMS = ("ctx", "context")
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schedule(
    name: str,
    cron: str,
    selection: Sequence[str] = (),
    *,
    timezone: str = "UTC",
    catchup: bool = False,
) -> ScheduleSpec:
    """Materialize `selection` (patterns as on the command line) on a cron schedule."""
    from croniter import croniter  # only projects with schedules pay for the import

    if not croniter.is_valid(cron):
        raise DefinitionError(f"schedule {name}: invalid cron expression {cron!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DefinitionError(f"schedule {name}: unknown timezone {timezone!r}") from None
    if isinstance(selection, str):
        selection = (selection,)
    return ScheduleSpec(name, cron, tuple(selection), timezone, catchup, _caller())


def file_sensor(source: str, selection: Sequence[str] = (), name: str | None = None) -> SensorSpec:
    """Watch a source's landing files; on a tick, changed files trigger their dependents."""
    if isinstance(selection, str):
        selection = (selection,)
    return SensorSpec(name or f"{source}_sensor", source, tuple(selection), _caller())


def key_sensor(
    key_set: str, pattern: str, selection: Sequence[str] = (), name: str | None = None
) -> SensorSpec:
    """Discover a dynamic key set's keys on a tick: each file or folder matching `pattern`
    (a glob relative to the project root, e.g. `landing/customers/*`) is a key, named by its
    name without suffix; new keys are added and the selection (default: the assets
    partitioned by the set and their readers) materialized. Keys are never removed by it."""
    if isinstance(selection, str):
        selection = (selection,)
    where = _caller()
    return SensorSpec(name or f"{key_set}_keys", "", tuple(selection), where, key_set, pattern)


def _caller() -> str:
    """file:line of the definitions code that called the declaring function."""
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _location(fn: Callable[..., Any]) -> tuple[str, int]:
    code = getattr(fn, "__code__", None)
    if code is None:
        return "<unknown>", 0
    return code.co_filename, code.co_firstlineno


_PARTITIONS_HELP = (
    "partitions= must be minutely(...), hourly(...), daily(...), weekly(...), monthly(...),"
    " quarterly(...), yearly(...), static(...) or None"
)


def _fail(fn: Callable[..., Any], name: str, message: str) -> DefinitionError:
    file, line = _location(fn)
    return DefinitionError(f"{file}:{line}: {name}: {message}")


def _check_name(fn: Callable[..., Any], name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise _fail(
            fn,
            name,
            "invalid name: use lowercase letters, digits and underscores, "
            "starting with a letter or underscore (at most 63 characters)",
        )


def asset(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    partitions: Partitions | None = None,
    deps: dict[str, Mapping] | Iterable[str] | None = None,
    code_version: str | None = None,
    description: str | None = None,
    retry: RetryPolicy | None = None,
    retry_on: Sequence[type[BaseException]] = (),
    on_failure: Sequence[Callable[..., Any]] | None = None,
    checks: Sequence[Check] = (),
    batch_size: int = 1,
    partition_by: str | None = None,
    automation: str | None = None,
    sla: dt.timedelta | None = None,
    on_sla_miss: Sequence[Callable[..., Any]] | None = None,
    group: str | None = None,
    columns: dict[str, str] | None = None,
    adds_keys: dict[str, str] | None = None,
    key: Sequence[str] = (),
    resources: Sequence[str] = (),
) -> Any:
    """Declare an asset. The function returns SQL (a SELECT over its upstream names),
    a `pyarrow.Table`, or a DuckDB relation.

    `columns={"carrier": "VARCHAR NOT NULL", "flights": "BIGINT"}` is a contract: the output
    must have exactly these columns and types (NOT NULL: no NULLs) or nothing is written,
    and the table is created from it.

    `adds_keys={"customers": "customer"}`: every distinct value of the column `customer` in
    what the asset writes becomes a key of the dynamic key set `customers`, in the same
    transaction as the rows.

    `key=["carrier", "day"]`: the columns that name a row; `env diff` pairs rows with the
    same key in the same partition on both sides as changed (without one, rows differ as
    whole rows).

    `resources=["landing", "api"]`: the resources (`resource(...)`) it uses, read as
    `ctx.resources.landing` or as parameters of those names.
    """

    def decorate(func: Callable[..., Any]) -> AssetSpec:
        asset_name = name or func.__name__
        _check_name(func, asset_name)
        parts = partitions if partitions is not None else unpartitioned()
        if not isinstance(parts, Partitions):
            raise _fail(func, asset_name, _PARTITIONS_HELP)
        params = list(inspect.signature(func).parameters)
        context_param = next((p for p in params if p in CONTEXT_PARAMS), None)
        wanted = (resources,) if isinstance(resources, str) else tuple(resources)
        upstream_params = [p for p in params if p not in CONTEXT_PARAMS and p not in wanted]
        mappings = _normalise_deps(func, asset_name, deps)
        dep_list = [Dep(p, mappings.pop(p, Window()), True) for p in upstream_params]
        dep_list += [Dep(n, m, False) for n, m in sorted(mappings.items())]
        file, line = _location(func)
        contract = tuple((columns or {}).items())
        if adds_keys is not None and not (
            isinstance(adds_keys, dict)
            and all(isinstance(k, str) and isinstance(c, str) for k, c in adds_keys.items())
        ):
            raise _fail(func, asset_name, _ADDS_KEYS_HELP)
        found, unseen = fingerprint(func, parts, dep_list, contract)
        version = code_version or found
        used = used_names(func, {d.name for d in dep_list if d.as_param})
        spec = AssetSpec(
            name=asset_name,
            fn=func,
            partitions=parts,
            deps=tuple(dep_list),
            code_version=version,
            unseen=() if code_version else unseen,
            file=file,
            line=line,
            description=description or inspect.getdoc(func) or "",
            context_param=context_param,
            retry=retry,
            retry_on=tuple(retry_on),
            on_failure=None if on_failure is None else tuple(on_failure),
            checks=tuple(checks),
            batch_size=batch_size,
            partition_by=partition_by,
            automation=automation,
            sla=sla,
            on_sla_miss=None if on_sla_miss is None else tuple(on_sla_miss),
            group=group,
            used_params=used,
            columns=contract,
            input_kinds=_input_kinds(func, [d.name for d in dep_list if d.as_param]),
            returns_sql=_returns_sql(func),
            adds_keys=tuple(sorted((adds_keys or {}).items())),
            key=(key,) if isinstance(key, str) else tuple(key),
            resources=wanted,
            resource_params=tuple(p for p in params if p in wanted),
        )
        problem = _asset_problem(spec)
        if problem:
            raise _fail(func, asset_name, problem)
        return spec

    return decorate(fn) if fn is not None else decorate


_ADDS_KEYS_HELP = "adds_keys= maps a dynamic key set to a column, e.g. {'customers': 'customer'}"
_FRAMES = {
    ("pandas", "DataFrame"): "pandas",
    ("polars", "DataFrame"): "polars",
    ("polars", "LazyFrame"): "polars_lazy",
    ("pyarrow", "Table"): "arrow",
}
_ALIASES = {"pd": "pandas", "pl": "polars", "pa": "pyarrow"}


def _input_kinds(func: Callable[..., Any], params: list[str]) -> tuple[tuple[str, str], ...]:
    """Upstream parameters annotated as a pandas/polars/Arrow frame, by the annotation's
    text or class (the libraries are not imported here)."""
    out = []
    for name, param in inspect.signature(func).parameters.items():
        hint = param.annotation
        if name not in params or hint is inspect.Parameter.empty:
            continue
        text = hint if isinstance(hint, str) else f"{hint.__module__}.{hint.__qualname__}"
        head, last = text.split(".")[0], text.split(".")[-1]
        kind = _FRAMES.get((_ALIASES.get(head, head), last))
        if kind:
            out.append((name, kind))
    return tuple(out)


def _asset_problem(spec: AssetSpec) -> str | None:
    """What is wrong with the arguments given to @asset, if anything."""
    if spec.retry is not None and not isinstance(spec.retry, RetryPolicy):
        return "retry= must be a RetryPolicy(...)"
    for error in spec.retry_on:
        if not (isinstance(error, type) and issubclass(error, BaseException)):
            return f"retry_on= must list exception types, got {error!r}"
    for item in spec.checks:
        if not isinstance(item, Check):
            return f"checks= items must be checks, got {item!r}"
    names = [c.name for c in spec.checks]
    if len(set(names)) != len(names):
        return "two checks share a name; give one name="
    if not isinstance(spec.batch_size, int) or spec.batch_size < 1:
        return f"batch_size= must be a whole number >= 1, got {spec.batch_size!r}"
    if spec.batch_size > 1 and (spec.partition_by is None or not spec.partitions.is_partitioned):
        return (
            "batch_size > 1 needs a partitioned asset and partition_by= (the date column"
            " that places each output row in its partition)"
        )
    if spec.batch_size > 1 and spec.partitions.sql_key("x") is None:
        return (
            f"batch_size > 1 places rows by their time; {spec.partitions.describe()}"
            " partitions cannot be batched"
        )
    for column, kind in spec.columns:
        if not (isinstance(column, str) and isinstance(kind, str) and column and kind.strip()):
            return f"columns= maps column names to DuckDB types, got {column!r}: {kind!r}"
    if spec.automation not in (None, "eager"):
        return f"automation= must be 'eager' or None, got {spec.automation!r}"
    sla = spec.sla
    if sla is not None and (not isinstance(sla, dt.timedelta) or sla < dt.timedelta(0)):
        return "sla= must be a non-negative datetime.timedelta"
    for hook in [*(spec.on_failure or ()), *(spec.on_sla_miss or ())]:
        if not callable(hook):
            return f"on_failure hook {hook!r} is not callable"
    group = spec.group
    if group is not None and not (isinstance(group, str) and group.isidentifier()):
        return f"group= must be a simple name, got {group!r}"
    return None


def source(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    partitions: Partitions | None = None,
    path: str | None = None,
    observe: Callable[[str], str | None] | None = None,
    description: str | None = None,
    ranges: bool = False,
) -> Any:
    """Declare a source. With `path` (a pattern like `landing/flights/{partition}.csv`) its
    version is the file's content hash and `ctx.path` is the file; otherwise pass
    `observe(partition_key) -> version or None`. With `ranges=True` (time partitions, no
    `path`) its function reads consecutive partitions in one call: `ctx.start`..`ctx.end`
    spans them, `ctx.partitions` lists them.
    """

    def decorate(func: Callable[..., Any]) -> SourceSpec:
        source_name = name or func.__name__
        _check_name(func, source_name)
        if path is None and observe is None:
            raise _fail(func, source_name, "a source needs path= or observe=")
        parts = partitions if partitions is not None else unpartitioned()
        if path is not None and parts.is_partitioned and "{partition}" not in path:
            raise _fail(func, source_name, "path= of a partitioned source needs {partition}")
        if ranges and (path is not None or not parts.is_time):
            why = "it needs time partitions and no path= (a file per partition)"
            raise _fail(func, source_name, f"ranges=True reads a window of partitions: {why}")
        file, line = _location(func)
        return SourceSpec(
            name=source_name,
            fn=func,
            partitions=parts,
            path=path,
            observe=observe,
            file=file,
            line=line,
            description=description or inspect.getdoc(func) or "",
            ranges=bool(ranges),
        )

    return decorate(fn) if fn is not None else decorate


def _normalise_deps(
    fn: Callable[..., Any], name: str, deps: dict[str, Mapping] | Iterable[str] | None
) -> dict[str, Mapping]:
    if deps is None:
        return {}
    if isinstance(deps, dict):
        out = dict(deps)
    elif isinstance(deps, str):
        out = {deps: Window()}
    else:
        out = {d: Window() for d in deps}
    for dep_name, mapping in out.items():
        if not isinstance(dep_name, str):
            raise _fail(fn, name, f"deps= keys must be asset names, got {dep_name!r}")
        if mapping is None:
            out[dep_name] = Window()
        elif not isinstance(mapping, Mapping):
            raise _fail(fn, name, f"deps[{dep_name!r}] must be window(...) or all_partitions()")
    return out


def _returns_sql(fn: Callable[..., Any]) -> bool:
    """Whether the body is one `return` of a string or f-string (after a docstring)."""
    node = function_node(fn)
    body = [
        s
        for s in getattr(node, "body", [])
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.JoinedStr | ast.Constant)
        and not isinstance(getattr(body[0].value, "value", ""), bytes | int | float | None)
    )


def used_names(fn: Callable[..., Any], params: set[str]) -> frozenset[str]:
    """Which of `params` the function's body reads (all of them if its source is unknown)."""
    node = function_node(fn)
    if node is None:
        return frozenset(params)
    loaded = {
        n.id
        for part in getattr(node, "body", [])
        for n in ast.walk(part)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    if "locals" in loaded or "vars" in loaded:  # reads its arguments by name at run time
        return frozenset(params)
    return frozenset(params & loaded)
