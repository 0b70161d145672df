"""An asset's code version: what it fingerprints, and what it cannot see.

The fingerprint covers the function's AST (not its name, decorators, docstring, comments or
layout), the declaration arguments that change output (the partitioning, the mappings, a
contract), and what the body reads from its module: the helpers defined in definitions/ (their
AST, and theirs in turn) and module-level constants (their value). Editing a helper or a
constant therefore stales exactly the assets that use it. What it cannot see — a function or
class of the project imported from outside definitions/ — is listed (`AssetSpec.unseen`) and
said by `why` and `assets`; libraries (installed packages, the standard library) are not.
"""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import decimal
import functools
import hashlib
import inspect
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assetflow.core.partitions import Partitions
from assetflow.core.specs import Dep

_SCALARS = (str, int, float, bool, bytes, type(None), dt.date, dt.time, dt.timedelta,
            decimal.Decimal)  # fmt: skip
_LIBRARIES = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("purelib"),
                                     sysconfig.get_path("platlib")} if p
)  # fmt: skip
_MAX_CONSTANT = 20_000  # characters of a constant's repr taken whole (a bigger one is hashed)


_FUNCTIONS: dict[str, dict[int, ast.AST]] = {}  # by file: what parse_source found there


def parse_source(filename: str, text: bytes) -> ast.Module:
    """A definitions file parsed once: the loader compiles this tree, and every function in
    it is kept by the line its code starts on (first decorator or def), far cheaper than
    inspect.getsource for each of 1,000 assets. The loader forgets them before each load,
    so an edited file is parsed afresh."""
    tree = ast.parse(text, filename)
    _FUNCTIONS[filename] = _functions_in(tree.body)
    return tree


def _module_functions(filename: str) -> dict[int, ast.AST]:
    """The functions of a file the loader did not parse (a helper's module outside it)."""
    if filename not in _FUNCTIONS:
        parse_source(filename, Path(filename).read_bytes())
    return _FUNCTIONS[filename]


def _functions_in(statements: list[ast.stmt]) -> dict[int, ast.AST]:
    """Every function defined by these statements or the statements inside them (a
    factory's nested defs, a class's methods, an `if`'s branches): statements only, as
    expressions hold no `def`."""
    out: dict[int, ast.AST] = {}
    todo = list(statements)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            out[first] = node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(getattr(node, name, ()))
    return out


def function_node(fn: Callable[..., Any]) -> ast.AST | None:
    """The function's definition in its source file (None for a lambda's or a builtin's)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    try:
        functions = _module_functions(code.co_filename)
    except (OSError, SyntaxError, ValueError):
        return None
    return functions.get(code.co_firstlineno)


def forget_sources() -> None:
    _FUNCTIONS.clear()


def fingerprint(
    fn: Callable[..., Any],
    partitions: Partitions,
    deps: list[Dep],
    contract: tuple[tuple[str, str], ...] = (),
) -> tuple[str, tuple[str, ...]]:
    """The code version, and the names the body reads that it cannot see."""
    node = function_node(fn)
    if node is None:
        body = getattr(getattr(fn, "__code__", None), "co_code", b"")
        return hashlib.sha256(bytes(body)).hexdigest()[:16], ()
    digest = hashlib.sha256(_dump(node).encode())
    # The partition unit and the mappings change output; extending start or end does not.
    declaration = repr((partitions.identity, [(d.name, d.mapping) for d in deps]))
    if contract:  # a contract changes the table (fingerprints without one stay as they were)
        declaration += repr(contract)
    digest.update(declaration.encode())
    covered, unseen = _what_it_reads(fn, node)
    if covered:  # helpers and constants (fingerprints of assets using none stay as they were)
        digest.update(covered.encode())
    return digest.hexdigest()[:16], unseen


def _dump(node: ast.AST) -> str:
    """Parameters, return annotation and body, read in place (no copy): not the name, the
    decorators or a docstring."""
    body = list(getattr(node, "body", []))
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    parts = [getattr(node, "args", None), getattr(node, "returns", None), *body]
    return "|".join(ast.dump(p, include_attributes=False) for p in parts if p is not None)


def _what_it_reads(fn: Callable[..., Any], node: ast.AST) -> tuple[str, tuple[str, ...]]:
    """What the body reads from its module, followed through helpers: (the text covered —
    helpers' ASTs and constants' values — and the names it cannot see)."""
    home = _resolved(fn.__code__.co_filename).parent  # definitions/
    covered: list[str] = []
    unseen: set[str] = set()
    seen: set[str] = set()
    todo = [(fn, node)]
    while todo:
        func, tree = todo.pop()
        namespace = getattr(func, "__globals__", {})
        for name in sorted(_globals_read(tree)):
            if name in seen or name not in namespace:
                continue
            seen.add(name)
            value = namespace[name]
            constant = _constant(value)
            if constant is not None:
                covered.append(f"{name}={constant}")
            elif inspect.isfunction(value) and _inside(value, home):
                helper = function_node(value)
                if helper is None:
                    unseen.add(name)
                else:
                    covered.append(f"{name}:{_dump(helper)}")
                    todo.append((value, helper))
            elif (inspect.isfunction(value) or inspect.isclass(value)) and _project_code(value):
                unseen.add(name)
    return "|".join(covered), tuple(sorted(unseen))


def _globals_read(node: ast.AST) -> set[str]:
    """Names the function's signature and body load that it neither takes nor assigns: its
    module's (a decorator's arguments are the declaration's, fingerprinted apart)."""
    loaded: set[str] = set()
    local: set[str] = set()
    args = getattr(node, "args", None)
    if args is not None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        local |= {a.arg for a in every if a is not None}
    inside = [*getattr(node, "body", []), getattr(node, "returns", None), args]  # no decorators
    for part in (n for top in inside if top is not None for n in ast.walk(top)):
        if isinstance(part, ast.Name):
            (loaded if isinstance(part.ctx, ast.Load) else local).add(part.id)
        elif isinstance(part, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            local.add(part.name)
        elif isinstance(part, ast.alias):
            local.add((part.asname or part.name).split(".")[0])
    return loaded - local - set(dir(builtins))


def _constant(value: Any) -> str | None:
    """A module-level value's text when it is data (scalars and collections of them)."""
    if not _is_data(value):
        return None
    text = repr(value)
    if len(text) > _MAX_CONSTANT:
        return hashlib.sha256(text.encode()).hexdigest()
    return text


def _is_data(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _SCALARS):
        return True
    if depth > 4 or not isinstance(value, tuple | list | set | frozenset | dict):
        return False
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
    return all(_is_data(item, depth + 1) for item in items)


def _inside(fn: Callable[..., Any], home: Path) -> bool:
    try:
        return _resolved(fn.__code__.co_filename).is_relative_to(home)
    except (AttributeError, OSError, ValueError):
        return False


@functools.lru_cache(maxsize=256)
def _resolved(filename: str) -> Path:
    """A code object's file, its links resolved (once per file, not per function)."""
    return Path(filename).resolve()


def _project_code(value: Any) -> bool:
    """Code the user could edit outside definitions/: not a library's, not assetflow's."""
    module = getattr(value, "__module__", "") or ""
    if module == "assetflow" or module.startswith("assetflow."):
        return False
    try:
        path = str(Path(inspect.getfile(value)).resolve())
    except (TypeError, OSError):
        return False  # builtins, C extensions
    return not path.startswith(_LIBRARIES)
