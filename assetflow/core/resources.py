"""Resources: what assets use to reach the world — a path, a connection's settings, an API
client, a secret — declared once in definitions/, with a value per environment.

A resource's value for an environment is its value named for it, else its default. A value
is plain data (text, numbers, paths, lists and dicts of them), a `Secret` (read from the
process's environment when an asset uses it, never recorded), or a factory called with the
environment's name (a client, made once per process). Plain values count toward the code
version of the assets that declare the resource: data built from another path or setting is
other data, so an environment with other values rebuilds those assets and never reuses
another environment's nodes of them. Secrets and factories do not count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assetflow.errors import DefinitionError


@dataclass(frozen=True)
class Secret:
    """A value read from the environment variable `var` when an asset uses it."""

    var: str

    def __repr__(self) -> str:
        return f"secret({self.var!r})"


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    default: Any = field(compare=False)
    per_env: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def declared(self, env: str) -> Any:
        """The declared value for `env`: its own, else the default (a Secret or a factory
        as declared, not yet resolved)."""
        return dict(self.per_env).get(env, self.default)

    def fingerprint(self, env: str) -> str | None:
        """What of the value counts toward a code version; None for a secret or a factory."""
        value = self.declared(env)
        if isinstance(value, Secret) or callable(value):
            return None
        return f"{self.name}={value!r}"


def versioned(code_version: str, uses: tuple[str, ...], specs: Mapping[str, ResourceSpec],
              env: str) -> str:  # fmt: skip
    """An asset's code version with the plain values of the resources it uses in `env`."""
    texts = [t for name in uses if (t := specs[name].fingerprint(env)) is not None]
    if not texts:
        return code_version
    digest = hashlib.sha256("\n".join([code_version, *texts]).encode()).hexdigest()
    return digest[:16]


class Resources:
    """`ctx.resources`: the values of the resources an asset declared, by attribute or key.
    Values are resolved when first read (`resolve`)."""

    def __init__(self, asset: str, names: tuple[str, ...], resolve: Callable[[str], Any]) -> None:
        self._asset, self._names, self._resolve = asset, names, resolve

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            declared = ", ".join(self._names) or "none"
            raise DefinitionError(
                f"asset {self._asset} uses resource {name} without declaring it",
                f"add it to @asset(resources=[...]); declared: {declared}",
            )
        return self._resolve(name)

    def __repr__(self) -> str:
        return f"Resources({', '.join(self._names)})"
