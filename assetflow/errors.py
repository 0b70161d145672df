"""One error root, and every exit code. Each error carries a hint and the exit code the
CLI uses."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What the process returns: the only place these numbers are written."""

    OK = 0
    FAILED = 1  # nodes failed, a blocking check failed, or an error about the run itself
    USAGE = 2  # bad input: command line, configuration, definitions
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class AssetflowError(Exception):
    """Root of every error assetflow reports to a user as one line."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return type(self), (self.message, self.hint)  # pickles with its hint (worker processes)

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AssetflowError):
    """Bad input on the command line or in configuration."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """`[tool.assetflow]` in pyproject.toml is wrong."""


class PartitionKeyError(UsageError):
    """A partition key that does not exist or does not parse."""


class SelectionError(UsageError):
    """An asset selection that matches nothing or names an unknown asset."""


class NothingInState(AssetflowError):
    """A selection by state (`failed`, `changed+`) that no asset is in: nothing to do."""

    exit_code = ExitCode.OK


class EnvError(UsageError):
    """An environment that does not exist, exists already, or cannot be named so."""


class DefinitionError(UsageError):
    """A mistake in the user's definitions: found at load or when an asset runs."""


class UpstreamMissingError(UsageError):
    """The selection reads nodes that were never materialized."""


class WarehouseLockedError(AssetflowError):
    """Another process holds the warehouse file."""


class DataError(AssetflowError):
    """Raised by an asset (or by assetflow) when the data itself is wrong. Never retried."""


class SourceMissingError(DataError):
    """A source partition an asset reads has no data."""


class StorageError(AssetflowError):
    """The warehouse's file or disk failed (full, over a size limit): never retried; the run
    stops, and what it committed stays."""


class RunFailedError(AssetflowError):
    """A run ended with failed nodes; the summary was already shown."""


def describe(error: BaseException) -> str:
    """An error as one line: its class and message (an AssetflowError's with its hint)."""
    text = error.one_line() if isinstance(error, AssetflowError) else str(error)
    return f"{type(error).__name__}: {text}"
