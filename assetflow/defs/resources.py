"""`resource(...)` and `secret(...)`: declaring what assets use to reach the world, once,
with a value per environment (docs/resources.md)."""

from __future__ import annotations

import re
import sys
from typing import Any

from assetflow.core.resources import ResourceSpec, Secret
from assetflow.errors import DefinitionError

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def resource(name: str, default: Any = None, **per_env: Any) -> ResourceSpec:
    """A resource named `name`: `default` in every environment not named, each keyword its
    value in that environment (`resource("landing", "landing", dev="landing_dev")`). A value
    may be plain data, `secret("VAR")`, or a factory `f(env) -> object` (a client), made once
    per process. Assets name the resources they use: `@asset(resources=["landing"])`."""
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            f"{where}: resource name {name!r} is not valid",
            "use lowercase letters, digits and underscores, starting with a letter or _",
        )
    if default is None and not per_env:
        raise DefinitionError(
            f"{where}: resource {name} has no value", 'give a default: resource("x", "value")'
        )
    return ResourceSpec(
        name, default, tuple(sorted(per_env.items())), frame.f_code.co_filename, frame.f_lineno
    )


def secret(var: str) -> Secret:
    """A value read from the environment variable `var` when an asset uses it (never
    recorded, never part of a code version)."""
    if not isinstance(var, str) or not var:
        raise DefinitionError(f"secret({var!r}): name an environment variable")
    return Secret(var)
