"""The one schema of every `--json` output, as JSON Schema: docs/cli.md renders them (clidoc)
and the tests validate every command's output against them. A record (a run, an attempt, a
check result) has the same fields wherever it appears."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
KEY: Schema = {"type": ["string", "null"], "description": "a partition key, or null"}
_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
TIME: Schema = {"type": "string", "pattern": _ISO, "description": "ISO 8601 with its zone (UTC)"}
WHEN: Schema = {
    "type": ["string", "null"],
    "pattern": _ISO,
    "description": "ISO 8601 with its zone (UTC), or null",
}
ANY_ROWS: Schema = {
    "type": "array",
    "items": {"type": "object"},
    "description": "a list of rows, each an object of column values",
}


def obj(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object with these fields, all present unless listed as optional."""
    required = [k for k in properties if k not in optional]
    return {"type": "object", "required": required, "properties": properties}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def maybe(schema: Schema) -> Schema:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*kinds, "null"]}


COUNTS = obj({k: INT for k in ("fresh", "stale", "missing", "failed")} | {"late": INT})
RUN = obj(
    {
        "run_id": STR,
        "trigger": STR,
        "selection": obj({"assets": array(STR), "from": KEY, "to": KEY}),
        "started_at": TIME,
        "ended_at": WHEN,
        "status": STR,
        "planned": INT,
        "succeeded": INT,
        "verified": INT,
        "failed": INT,
        "skipped": INT,
        "message": maybe(STR),
        "pid": maybe(INT),
        "env": STR,
    },
    optional=("pid", "env"),
)
ATTEMPT = obj(
    {
        "asset": STR,
        "partition": STR,
        "attempt": INT,
        "started_at": TIME,
        "ended_at": TIME,
        "status": STR,
        "error_class": maybe(STR),
        "error_message": maybe(STR),
        "next_retry_at": WHEN,
        "log_path": maybe(STR),
        "run_id": STR,
    }
)
_CHECKED = {
    "check": STR,
    "severity": STR,
    "passed": BOOL,
    "failing_rows": INT,
    "message": STR,
    "samples": ANY_ROWS,
}
CHECK_RECORD = obj(  # a check's result on a node: as `checks` finds it, as `check` ran it
    {"asset": STR, "partition": STR, **_CHECKED, "run_id": maybe(STR), "checked_at": TIME}
)
REASON: Schema = obj(
    {
        "subject": STR,
        "status": STR,  # fresh, stale, missing, failed; or of a cause: changed, ...
        "reasons": array(STR),  # a node's causes (upstream_changed, ...), as status has them
        "label": STR,  # the two as people read them: "stale (upstream_changed)"
        "detail": STR,
        "causes": array({"$ref": "#"}),
    }
)
PLANNED = obj(
    {
        "asset": STR,
        "partition": STR,
        "reason": STR,
        "conditional": BOOL,
        "batch": maybe(INT),
        "reads": array(obj({"input": STR, "from": KEY, "to": KEY})),
        "recorded_inputs": array(obj({"input": STR, "partition": STR, "version": maybe(STR)})),
    },
    optional=("recorded_inputs",),
)
PLANNED_RUN = obj(
    {
        "asset": STR,
        "from": STR,
        "to": STR,
        "nodes": {
            "type": "integer",
            "description": "the partitions from..to, every one planned for the same causes",
        },
        "reason": STR,
        "conditional": BOOL,
    }
)
IN_PROGRESS = obj(
    {
        "run_id": STR,
        "pid": INT,
        "started_at": TIME,
        "as_of": TIME,
        "planned": INT,
        "progress": {"type": "object", "additionalProperties": INT},
    }
)

ASSET = obj(
    {
        "asset": STR,
        "description": STR,
        "partitions": STR,
        "group": maybe(STR),
        "reads": array(STR),
        "checks": array(STR),
        "schedules": array(STR),
        "where": STR,
        "materialized": INT,
        "last_run": maybe(STR),
        "last_built_at": WHEN,
        "recent_rows": {
            "type": "array",
            "items": {"type": "array", "prefixItems": [STR, INT]},
            "description": "a list of [partition, rows], latest partitions first",
        },
        "unseen": array(STR),  # project code outside definitions/ its code version cannot see
    }
)

# Command -> the schema of what its --json prints.
PLAN: Schema = obj(
    {
        "assets": array(STR),
        "from": KEY,
        "to": KEY,
        "planned": {"type": "integer", "description": "how many nodes the plan holds"},
        "runs": {
            **array(PLANNED_RUN),
            "description": "the plan as runs of consecutive partitions of one asset planned"
            " for the same causes: assets upstream first, partitions ascending",
        },
        "nodes": {
            **array(PLANNED),
            "description": "with --nodes only: every planned node, in plan order",
        },
        "shape_changes": {
            "type": "array",
            "items": STR,
            "description": "how the run will change tables' columns, one line per asset,"
            " as far as known before running (SQL-only assets bound against the tables"
            " as they are; full refreshes)",
        },
        "problems": {
            "type": "array",
            "items": STR,
            "description": "definition mistakes found before running (an SQL asset whose"
            " query does not parse), one line each with the asset and its file:line; the"
            " dry run then exits 2",
        },
    },
    optional=("nodes",),
)


OUTPUTS: dict[str, Schema] = {
    "partitions list": {
        "type": "object",
        "additionalProperties": array(STR),
        "description": "key set name -> its keys, in the order they were added",
    },
    "assets": array(ASSET),
    "materialize --dry-run": PLAN,
    "backfill --dry-run": PLAN,
    "status": obj(
        {
            "assets": array(
                obj(
                    {
                        "asset": STR,
                        "counts": COUNTS,
                        "nodes": array(
                            obj(
                                {
                                    "partition": STR,
                                    "status": STR,
                                    "causes": array(STR),
                                    "late": BOOL,
                                },
                                optional=("late",),
                            )  # fmt: skip
                        ),
                    },
                    optional=("nodes",),  # while a run holds the warehouse: counts only
                )
            ),
            "in_progress": IN_PROGRESS,  # while a run holds the warehouse: how far it got
            # what the counts cover: the range asked for (null: from the first partition /
            # up to now) and the time the command was about
            "range": obj({"from": KEY, "to": KEY, "now": TIME}),
            "env": STR,  # the environment they are of (prod unless --env)
        },
        optional=("in_progress", "env"),
    ),
    "why": REASON,
    "lineage": obj(  # with --columns
        {
            "asset": STR,
            "partition": STR,
            "columns": array(
                obj({"column": STR, "from": array(obj({"table": STR, "column": STR}))})
            ),
            "filters": array(obj({"table": STR, "column": STR, "only_filter": BOOL})),
            "declared_not_read": array(STR),
        }
    ),
    "backfill status": obj(
        {
            "backfill_id": STR,
            "from": KEY,
            "to": KEY,
            "assets": {
                "type": "object",
                "additionalProperties": obj({"done": STR, "failed": STR, "remaining": STR}),
            },
            "counts": {
                "type": "object",
                "additionalProperties": obj({"done": INT, "failed": INT, "remaining": INT}),
            },
        }
    ),
    "tick": array(
        obj(
            {
                "kind": STR,
                "name": STR,
                "detail": STR,
                "run_id": maybe(STR),
                "status": maybe(STR),
                "error": BOOL,
            }
        )
    ),
    "checks": array(CHECK_RECORD),
    "check": array(CHECK_RECORD),  # the records `checks` lists
    "runs": array(RUN),  # a running run with what it has committed so far
    "test": array(
        obj(
            {
                "name": STR,
                "asset": STR,
                "partition": maybe(STR),
                "where": STR,  # file:line of the asset_test(...)
                "passed": BOOL,
                "error": maybe(STR),  # a test that could not run, and why
                "produced": INT,  # rows the asset returned
                "compared": array(STR),  # the columns compared
                "key": array(STR),
                "missing": ANY_ROWS,  # expected, not produced
                "unexpected": ANY_ROWS,  # produced, not expected
                "changed": array(
                    obj({"key": {"type": "object"}, "columns": {"type": "object"}})
                ),  # by key: {column: {expected, actual}} for the columns that differ
            }
        )
    ),
    "runs show": obj({"run": RUN, "attempts": array(ATTEMPT)}),
    "env list": array(
        obj({"name": STR, "parent": maybe(STR), "created_at": WHEN, "own_nodes": INT})
    ),
    "env diff": array(
        obj(
            {
                "asset": STR,
                "partitions": array(STR),  # whose data versions differ (lineage)
                "key": array(STR),  # the asset's declared key (changed rows pair by it)
                "columns": array(STR),  # of the samples' rows
                "added": INT,  # rows only in the environment
                "removed": INT,  # rows only in its parent
                "changed": INT,  # keys on both sides with other values
                "samples": {
                    "type": "object",
                    "additionalProperties": array({"type": "array"}),
                    "description": "added, removed, changed (each key's new row, then its"
                    " old one) -> up to five rows each, values in `columns` order",
                },
            }
        )
    ),
    "sql": {
        **ANY_ROWS,
        "description": "a list of rows, each an object of column values; one such list"
        " per line when several statements run",
    },
}


def outline(schema: Schema, indent: str = "") -> list[str]:
    """A schema as indented `field: type` lines, for docs/cli.md."""
    if "oneOf" in schema:
        lines = [f"{indent}- one of:"]
        for option in schema["oneOf"]:
            lines += outline(option, indent + "  ")
        return lines
    if _simple(schema):
        return [f"{indent}- {_kind(schema)}"]
    if schema["type"] == "array":
        return [f"{indent}- a list of:", *outline(schema["items"], indent + "  ")]
    if "additionalProperties" in schema:
        each = schema["additionalProperties"]
        return [f"{indent}- an object by name, each:", *outline(each, indent + "  ")]
    lines = []
    for name, field in schema["properties"].items():
        optional = "" if name in schema.get("required", ()) else " (optional)"
        if _simple(field):
            lines.append(f"{indent}- `{name}`{optional}: {_kind(field)}")
        else:
            lines += [f"{indent}- `{name}`{optional}:", *outline(field, indent + "  ")]
    return lines


def _simple(schema: Schema) -> bool:
    """Said in a few words: a scalar, a list of scalars, a map to scalars, a nesting."""
    if "$ref" in schema or "description" in schema:
        return True
    if schema.get("type") == "array":
        return _simple(schema["items"]) and "properties" not in schema["items"]
    if "additionalProperties" in schema:
        return "properties" not in schema["additionalProperties"]
    return schema.get("type") != "object" or "properties" not in schema


def _kind(schema: Schema) -> str:
    if "$ref" in schema:
        return "the same object, nested"
    if "description" in schema:
        return schema["description"]
    if schema.get("type") == "array":
        return f"a list of {_kind(schema['items'])}"
    if "additionalProperties" in schema:
        return f"an object of {_kind(schema['additionalProperties'])}"
    kind = schema.get("type", "object")
    return " or ".join(kind) if isinstance(kind, list) else kind
