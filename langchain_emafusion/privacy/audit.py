"""The audit log: one JSON line per member call, saying what kinds of data were involved, never the data.

A record holds ids, the member's name and privacy flag, the detected kinds, whether the member saw redacted
text, the cost, a UTC timestamp and the outcome (with at most the exception's class name, since an error message
may quote the prompt). Free-text fields are limited to ids and model names; do not put request text in them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langchain_emafusion.privacy.detectors import validate_kind_name
from langchain_emafusion.privacy.errors import AuditLogError, PrivacyConfigError

__all__ = ["AuditLog", "AuditRecord", "read_audit_log"]

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    # One lock per file, shared by every AuditLog instance writing to it in this process.
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


class AuditRecord(BaseModel):
    """One member call, as written to the audit log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=200)
    subtask_id: str | None = Field(default=None, max_length=200)
    model: str = Field(min_length=1, max_length=200, description="The pool member's name.")
    private: bool = Field(description="Whether the member is private (local or self-hosted).")
    detector_kinds: tuple[str, ...] = Field(
        default=(), description="Kinds detected in what was sent: sorted, unique."
    )
    redacted: bool = Field(description="Whether the member received redacted text.")
    cost_usd: float | None = Field(default=None, ge=0)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    outcome: Literal["ok", "error"] = "ok"
    error_type: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$",
        description="Exception class name only.",
    )

    @field_validator("detector_kinds", mode="before")
    @classmethod
    def _sorted_unique_kinds(cls, value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            try:
                return tuple(sorted({validate_kind_name(kind, field="detector_kinds") for kind in value}))
            except PrivacyConfigError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (UTC)")
        return value.astimezone(UTC)


class AuditLog:
    """Appends :class:`AuditRecord` lines to a JSONL file; safe from several threads and asyncio tasks.

    Each line is written by one open-append-close under a per-file lock, so lines never interleave and a crash
    loses at most the line being written.
    """

    def __init__(self, path: str | Path) -> None:
        """Log to ``path`` (created on first write, with its parent folders)."""
        self.path = Path(path).expanduser().resolve()
        self._lock = _lock_for(self.path)

    def append(self, record: AuditRecord) -> None:
        """Write one record."""
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    async def aappend(self, record: AuditRecord) -> None:
        """Write one record from async code without blocking the event loop on the file lock."""
        await asyncio.to_thread(self.append, record)

    def record(self, **fields: Any) -> AuditRecord:
        """Build an :class:`AuditRecord` from keyword fields, write it and return it."""
        audit_record = AuditRecord(**fields)
        self.append(audit_record)
        return audit_record

    def read(self) -> list[AuditRecord]:
        """All records written so far (see :func:`read_audit_log`)."""
        return read_audit_log(self.path)


def read_audit_log(path: str | Path) -> list[AuditRecord]:
    """Read an audit log back.

    Raises:
        AuditLogError: The file does not exist, or a line is not JSON or not a valid record; the message names the
            line number (blank lines are skipped).
    """
    file = Path(path)
    if not file.is_file():
        raise AuditLogError("no audit log file here", path=file)
    records: list[AuditRecord] = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(AuditRecord.model_validate(json.loads(line)))
            except json.JSONDecodeError as error:
                raise AuditLogError(
                    f"not valid JSON ({error.msg}, column {error.colno})", path=file, line=number
                ) from None
            except ValidationError as error:
                fields = ", ".join(
                    ".".join(str(part) for part in problem["loc"]) for problem in error.errors()
                )
                raise AuditLogError(
                    f"not a valid audit record (fields: {fields})", path=file, line=number
                ) from None
    return records
