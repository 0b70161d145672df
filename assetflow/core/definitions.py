"""Everything a project declares, by name, validated: names, dependencies and mappings.

The loader (app layer) imports the definition files; this module only checks what they
declared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assetflow.core.mappings import mapping_problem
from assetflow.core.partitions import DynamicKeys
from assetflow.core.policy import Defaults, RetryPolicy
from assetflow.core.resources import ResourceSpec, versioned
from assetflow.core.specs import AssetSpec, AssetTestSpec, ScheduleSpec, SensorSpec, SourceSpec
from assetflow.errors import DefinitionError

# SQL keywords an asset name must not be: upstream names are used unquoted in SQL.
_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "default",
        "deferrable",
        "desc",
        "describe",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "pivot",
        "placing",
        "primary",
        "qualify",
        "references",
        "returning",
        "select",
        "show",
        "summarize",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "unpivot",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ]
)


@dataclass(frozen=True)
class Definitions:
    """Everything a project declares, by name, in a deterministic order."""

    assets: dict[str, AssetSpec]
    sources: dict[str, SourceSpec]
    defaults: Defaults = Defaults()
    schedules: dict[str, ScheduleSpec] = dataclasses.field(default_factory=dict)
    sensors: dict[str, SensorSpec] = dataclasses.field(default_factory=dict)
    tests: dict[str, AssetTestSpec] = dataclasses.field(default_factory=dict)  # by name
    resources: dict[str, ResourceSpec] = dataclasses.field(default_factory=dict)

    def for_env(self, env: str) -> Definitions:
        """These definitions as environment `env` runs them: an asset that uses resources has
        the plain values it gets there in its code version (core/resources.py)."""
        changed = {
            name: dataclasses.replace(
                spec, code_version=versioned(spec.code_version, spec.resources, self.resources, env)
            )
            for name, spec in self.assets.items()
            if spec.resources
        }
        return dataclasses.replace(self, assets={**self.assets, **changed}) if changed else self

    def sla_hooks(self, asset: str) -> tuple[Callable[..., Any], ...]:
        own = self.assets[asset].on_sla_miss
        return self.defaults.on_sla_miss if own is None else own

    def retry_policy(self, asset: str) -> RetryPolicy:
        return self.assets[asset].retry or self.defaults.retry

    def failure_hooks(self, asset: str) -> tuple[Callable[..., Any], ...]:
        own = self.assets[asset].on_failure
        return self.defaults.on_failure if own is None else own

    def spec(self, name: str) -> AssetSpec | SourceSpec:
        return self.assets.get(name) or self.sources[name]

    def dynamic_names(self) -> list[str]:
        """The key sets the declared dynamic partitionings read."""
        specs: list[AssetSpec | SourceSpec] = [*self.assets.values(), *self.sources.values()]
        return sorted({name for s in specs for name in s.partitions.key_sets()})

    def partitioned_by(self, key_set: str) -> tuple[str, ...]:
        """The assets, then the sources, whose partitions read the dynamic key set."""
        specs: list[AssetSpec | SourceSpec] = [*self.assets.values(), *self.sources.values()]
        return tuple(s.name for s in specs if key_set in s.partitions.key_sets())

    def with_keys(self, keysets: dict[str, DynamicKeys]) -> Definitions:
        """These definitions with every dynamic partitioning's keys as stored."""

        def bound(spec: Any) -> Any:
            if not spec.partitions.key_sets():
                return spec
            return dataclasses.replace(spec, partitions=spec.partitions.bind(keysets))

        return dataclasses.replace(
            self,
            assets={n: bound(s) for n, s in self.assets.items()},
            sources={n: bound(s) for n, s in self.sources.items()},
        )


def validate(found: list[AssetSpec | SourceSpec], defaults: Defaults | None = None) -> Definitions:
    """Check names, duplicates, dependencies and mappings; order everything by name."""
    by_name: dict[str, AssetSpec | SourceSpec] = {}
    for spec in found:
        other = by_name.get(spec.name)
        if other is not None and other is not spec:
            raise DefinitionError(
                f"{spec.where}: duplicate asset name {spec.name!r}, also defined at {other.where}"
            )
        if spec.name in _RESERVED:
            raise DefinitionError(
                f"{spec.where}: {spec.name}: invalid name: {spec.name!r} is an SQL keyword"
            )
        by_name[spec.name] = spec
    assets = {n: s for n, s in sorted(by_name.items()) if isinstance(s, AssetSpec)}
    sources = {n: s for n, s in sorted(by_name.items()) if isinstance(s, SourceSpec)}
    for spec in assets.values():
        for dep in spec.deps:
            upstream = by_name.get(dep.name)
            if upstream is None:
                what = "parameter" if dep.as_param else "deps= entry"
                raise DefinitionError(
                    f"{spec.where}: {spec.name}: unknown dependency {dep.name!r} ({what})",
                    f"known: {', '.join(sorted(by_name)) or 'none'}",
                )
            problem = mapping_problem(dep.mapping, spec.partitions, upstream.partitions)
            if problem:
                raise DefinitionError(
                    f"{spec.where}: {spec.name}: mapping for {dep.name!r} does not fit "
                    f"({spec.partitions.describe()} <- {upstream.partitions.describe()}): {problem}"
                )
    defs = Definitions(assets=assets, sources=sources, defaults=defaults or Defaults())
    for spec in assets.values():
        for key_set, _ in spec.adds_keys:
            if key_set not in defs.dynamic_names():
                raise DefinitionError(
                    f"{spec.where}: {spec.name}: adds_keys names {key_set!r}, which no"
                    " dynamic() partitioning reads",
                    f"dynamic key sets: {', '.join(defs.dynamic_names()) or 'none declared'}",
                )
            if key_set in spec.partitions.key_sets():
                raise DefinitionError(
                    f"{spec.where}: {spec.name}: adds_keys names {key_set!r}, the key set it is"
                    " partitioned by: an asset cannot add its own partitions"
                )
    return defs
