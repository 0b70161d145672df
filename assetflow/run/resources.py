"""Resources resolved where assets run: a secret read from the process's environment when an
asset asks for it, a factory's object made once per process and environment."""

from __future__ import annotations

import os
import threading
from typing import Any

from assetflow.core.definitions import Definitions
from assetflow.core.resources import Resources, Secret
from assetflow.core.specs import AssetSpec
from assetflow.errors import DefinitionError

_made: dict[tuple[str, str, int], Any] = {}  # (resource, environment, factory) -> its object
_lock = threading.Lock()


def resources_for(spec: AssetSpec, defs: Definitions, env: str) -> Resources:
    """`ctx.resources` of an asset run in environment `env`."""

    def resolve(name: str) -> Any:
        declared = defs.resources[name]
        value = declared.declared(env)
        if isinstance(value, Secret):
            found = os.environ.get(value.var)
            if found is None:
                raise DefinitionError(
                    f"{declared.where}: resource {name} (environment {env}): the environment"
                    f" variable {value.var} is not set",
                    "set it where assets run (the shell, the daemon's service, the workers)",
                )
            return found
        if callable(value):
            key = (name, env, id(value))
            with _lock:
                if key not in _made:
                    _made[key] = value(env)
                return _made[key]
        return value

    return Resources(spec.name, spec.resources, resolve)
