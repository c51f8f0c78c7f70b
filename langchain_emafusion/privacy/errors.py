"""Typed errors of the privacy sub-package."""

from __future__ import annotations

from pathlib import Path

from langchain_emafusion.errors import EmaFusionError

__all__ = ["AuditLogError", "PrivacyConfigError"]


class PrivacyConfigError(EmaFusionError, ValueError):
    """A privacy policy or detector configuration is invalid; the message names the field and the bad value."""


class AuditLogError(EmaFusionError, ValueError):
    """An audit log file cannot be read back; the message names the file and the 1-based line at fault.

    Attributes:
        path: The audit log file.
        line: The 1-based number of the corrupt line, when one line is at fault.
    """

    def __init__(self, message: str, *, path: str | Path, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")
