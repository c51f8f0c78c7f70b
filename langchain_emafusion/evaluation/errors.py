"""Typed errors of the evaluation sub-package."""

from __future__ import annotations

from pathlib import Path

from langchain_emafusion.errors import EmaFusionError

__all__ = ["OutcomeTableError", "ProtocolViolationError", "SharedDataNotFoundError"]


class OutcomeTableError(EmaFusionError, ValueError):
    """An outcome table (JSONL) is malformed; the message names the file, the line and the field.

    Attributes:
        path: The file that was read, when the table came from a file.
        line: The 1-based line number of the offending row, when one row is at fault.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ProtocolViolationError(EmaFusionError, RuntimeError):
    """A replay policy broke the replay protocol (answered with a model it never called, swallowed a call...)."""


class SharedDataNotFoundError(EmaFusionError, FileNotFoundError):
    """A file of the shared outcome data (``../shared/data``) is missing; the message says where it was sought."""
