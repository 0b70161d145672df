"""Load a definitions folder: import each module, collect assets and sources, validate them.

Every mistake becomes one DefinitionError naming the file and the asset.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from assetflow.core.definitions import Definitions, validate
from assetflow.core.policy import Defaults
from assetflow.core.resources import ResourceSpec
from assetflow.core.specs import AssetSpec, AssetTestSpec, ScheduleSpec, SensorSpec, SourceSpec
from assetflow.defs.code_version import forget_sources, parse_source
from assetflow.errors import AssetflowError, DefinitionError

_load_counter = itertools.count()


def load_definitions(folder: Path) -> Definitions:
    """Import every `*.py` in `folder` (sorted) and validate what they declare."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DefinitionError(
            f"definitions folder {folder} not found",
            "set `definitions` in [tool.assetflow] of pyproject.toml",
        )
    forget_sources()
    package = f"_assetflow_definitions_{next(_load_counter)}"
    module = types.ModuleType(package)
    module.__path__ = [str(folder)]
    sys.modules[package] = module
    # Messages name files relative to the project root (the folder above definitions/).
    shown = f"{folder.resolve().parent}/"
    found: list[Found] = []
    try:
        for file in sorted(folder.resolve().glob("*.py")):
            if file.name != "__init__.py":
                found.extend(_import_specs(package, file))
    except DefinitionError as exc:
        raise DefinitionError(exc.message.replace(shown, ""), exc.hint) from exc
    defaults = list({id(d): d for d in found if isinstance(d, Defaults)}.values())
    if len(defaults) > 1:
        raise DefinitionError("project_defaults(...) is declared more than once in definitions/")
    found = [_relative(item, shown) for item in found]
    specs = [s for s in found if isinstance(s, AssetSpec | SourceSpec)]
    defs = validate(specs, defaults[0] if defaults else Defaults())
    return _with_automation(defs, found)


def _with_automation(defs: Definitions, found: list[Found]) -> Definitions:
    """Attach schedules, sensors and asset tests, checking names, the sources sensors watch
    and the assets tests test."""
    schedules: dict[str, ScheduleSpec] = {}
    sensors: dict[str, SensorSpec] = {}
    tests: dict[str, AssetTestSpec] = {}
    for item in found:
        if isinstance(item, AssetTestSpec):
            if item.asset not in defs.assets:
                raise DefinitionError(
                    f"{item.where}: asset_test {item.name}: no asset named {item.asset!r}"
                )
            if item.name in tests and tests[item.name] != item:
                raise DefinitionError(f"{item.where}: two asset tests are named {item.name!r}")
            tests[item.name] = item
        if isinstance(item, ScheduleSpec | SensorSpec):
            table: dict[str, Any] = schedules if isinstance(item, ScheduleSpec) else sensors
            if item.name in table and table[item.name] != item:
                raise DefinitionError(f"two schedules or sensors are named {item.name!r}")
            table[item.name] = item
    for sensor in sensors.values():
        if sensor.key_set is not None:
            if sensor.key_set not in defs.dynamic_names():
                raise DefinitionError(
                    f"{sensor.where}: key sensor {sensor.name}: no dynamic partitions named"
                    f" {sensor.key_set!r}"
                )
            continue
        if sensor.source not in defs.sources:
            raise DefinitionError(
                f"sensor {sensor.name}: {sensor.source!r} is not a declared source"
            )
        if defs.sources[sensor.source].path is None:
            raise DefinitionError(f"sensor {sensor.name}: source {sensor.source} has no path=")
    return dataclasses.replace(
        defs,
        schedules=dict(sorted(schedules.items())),
        sensors=dict(sorted(sensors.items())),
        tests=dict(sorted(tests.items())),
        resources=_resources(defs, found),
    )


def _resources(defs: Definitions, found: list[Found]) -> dict[str, ResourceSpec]:
    """The declared resources, each once, and every asset's names checked against them."""
    out: dict[str, ResourceSpec] = {}
    for item in found:
        if isinstance(item, ResourceSpec):
            other = out.get(item.name)
            if other is not None and other is not item:
                raise DefinitionError(
                    f"{item.where}: two resources are named {item.name!r}, also at {other.where}"
                )
            if item.name in defs.assets or item.name in defs.sources:
                raise DefinitionError(
                    f"{item.where}: resource {item.name!r} has the name of an asset or source"
                )
            out[item.name] = item
    for spec in defs.assets.values():
        for name in spec.resources:
            if name not in out:
                raise DefinitionError(
                    f"{spec.where}: {spec.name}: no resource named {name!r}",
                    f"declare it: {name} = resource({name!r}, ...); resources: "
                    + (", ".join(sorted(out)) or "none"),
                )
    return dict(sorted(out.items()))


def _relative(item: Found, shown: str) -> Found:
    if isinstance(item, AssetSpec | SourceSpec):
        return dataclasses.replace(item, file=item.file.replace(shown, ""))
    if isinstance(item, ScheduleSpec | SensorSpec | AssetTestSpec):
        return dataclasses.replace(item, where=item.where.replace(shown, ""))
    if isinstance(item, ResourceSpec):
        return dataclasses.replace(item, file=item.file.replace(shown, ""))
    return item


Found = AssetSpec | SourceSpec | Defaults | ScheduleSpec | SensorSpec | AssetTestSpec | ResourceSpec


def _import_specs(package: str, file: Path) -> list[Found]:
    name = f"{package}.{file.stem}"
    if name in sys.modules:  # already imported by a sibling module
        module = sys.modules[name]
    else:
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:  # compiled from the text on disk now: a cached .pyc is trusted by mtime and size
            tree = parse_source(str(file), file.read_bytes())  # parsed once, for code versions too
            exec(compile(tree, str(file), "exec", dont_inherit=True), vars(module))
        except AssetflowError:
            raise
        except Exception as exc:  # a user's module failing to import, whatever the cause
            line = _line_in(file, exc)
            raise DefinitionError(
                f"{file}{line}: cannot import: {type(exc).__name__}: {exc}"
            ) from exc
    kinds = (
        AssetSpec | SourceSpec | Defaults | ScheduleSpec | SensorSpec | AssetTestSpec
        | ResourceSpec
    )  # fmt: skip
    return [
        dataclasses.replace(v, name=k) if isinstance(v, AssetTestSpec) and not v.name else v
        for k, v in vars(module).items()
        if isinstance(v, kinds)
    ]  # an asset test is named after its variable unless it has a name


def _line_in(file: Path, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename) == file:
            return f":{frame.lineno}"
    return ""
