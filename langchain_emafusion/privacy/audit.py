"""The audit log: one JSON line per member call, saying what kinds of data were involved, never the data.

A member-call record (:class:`AuditRecord`) holds ids, the member's name and privacy flag, the detected kinds,
whether the member saw redacted text, the cost, a UTC timestamp and the outcome (with at most the exception's
class name, since an error message may quote the prompt). Free-text fields are limited to ids and model names;
do not put request text in them.

Besides, ``FusionChatModel`` writes one request record (:class:`RequestRecord`, ``"kind": "request"``) per
routed request: the savings ledger's line (what the request cost, which members answered, and what a baseline
member would have cost; ``emafusion ledger`` sums them). Member-call lines carry no ``kind`` (logs written
before request records existed read back unchanged); :func:`read_audit_log` returns the member calls by default
and the request records with ``kind="request"``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from langchain_emafusion.jsonl import iter_jsonl
from langchain_emafusion.privacy.detectors import validate_kind_name
from langchain_emafusion.privacy.errors import AuditLogError, PrivacyConfigError

__all__ = [
    "AuditLog",
    "AuditRecord",
    "MemberEstimate",
    "RecordKind",
    "RequestRecord",
    "file_lock",
    "read_audit_log",
]

RecordKind = Literal["call", "request", "all"]
"""Which records :func:`read_audit_log` returns: member calls, request records, or both in file order."""

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def file_lock(path: Path) -> threading.Lock:
    """The lock every JSONL appender of this process takes to write ``path`` (one per resolved path)."""
    # One lock per file, shared by every AuditLog (and feedback log) instance writing to it in this process.
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
        return _as_utc(value)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    return value.astimezone(UTC)


class MemberEstimate(BaseModel):
    """What one pool member alone would have cost a request, and the router's predicted quality of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost_usd: float = Field(
        ge=0,
        description="The member's card prices x the request's input tokens and output_tokens (counterfactual).",
    )
    quality: float | None = Field(
        default=None, ge=0, le=1, description="The router's predicted quality; None when it predicts none."
    )
    output_tokens: int = Field(ge=0, description="Output tokens priced: predicted, else the answer's own.")
    tokens_predicted: bool = Field(description="Whether output_tokens is the router's prediction.")


class RequestRecord(BaseModel):
    """One routed request, as written to the audit log: what it did and what a baseline would have cost.

    ``members`` holds every pool member's counterfactual (:class:`MemberEstimate`), so that any of them can be
    the baseline afterwards; ``baseline*`` repeat the one chosen when the request was served. A request of the
    fusion graph is one record per call (``stage``: the decomposer, each subtask, the merge), grouped by
    ``parent_id``. Ids, member and router names only: never prompt text or values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["request"] = "request"
    request_id: str = Field(min_length=1, max_length=200)
    parent_id: str | None = Field(
        default=None, max_length=200, description="The fusion graph request this call belongs to."
    )
    stage: Literal["direct", "decompose", "subtask", "merge"] = "direct"
    subtask_id: str | None = Field(default=None, max_length=200)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    outcome: Literal["ok", "error"] = "ok"
    error_type: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    router: str = Field(min_length=1, max_length=200)
    strategy: str = Field(min_length=1, max_length=200)
    models: tuple[str, ...] = Field(default=(), description="Members that answered, in call order.")
    failed: tuple[str, ...] = Field(default=(), description="Members whose every attempt failed.")
    calls: int = Field(default=0, ge=0, description="Member calls made, failed attempts included.")
    cost_usd: float = Field(ge=0, description="What the request cost (all its member calls).")
    input_tokens: int = Field(default=0, ge=0, description="Over all member calls.")
    output_tokens: int = Field(default=0, ge=0, description="Over all member calls.")
    answered_by: str | None = Field(
        default=None, max_length=200, description="The member whose answer was returned (None: synthesized)."
    )
    predicted_quality: float | None = Field(
        default=None, ge=0, le=1, description="The router's predicted quality of answered_by."
    )
    baseline: str = Field(min_length=1, max_length=200)
    baseline_source: str = Field(min_length=1, max_length=300, description="How the baseline was chosen.")
    baseline_cost_usd: float = Field(ge=0)
    baseline_quality: float | None = Field(default=None, ge=0, le=1)
    members: dict[str, MemberEstimate] = Field(min_length=1)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @model_validator(mode="after")
    def _baseline_is_a_member(self) -> RequestRecord:
        estimate = self.members.get(self.baseline)
        if estimate is None:
            raise ValueError(f"baseline {self.baseline!r} has no entry in members")
        if estimate.cost_usd != self.baseline_cost_usd or estimate.quality != self.baseline_quality:
            raise ValueError("baseline_cost_usd and baseline_quality must match members[baseline]")
        return self


class AuditLog:
    """Appends :class:`AuditRecord` and :class:`RequestRecord` lines to a JSONL file; thread- and task-safe.

    Each line is written by one open-append-close under a per-file lock, so lines never interleave and a crash
    loses at most the line being written.
    """

    def __init__(self, path: str | Path) -> None:
        """Log to ``path`` (created on first write, with its parent folders)."""
        self.path = Path(path).expanduser().resolve()
        self._lock = file_lock(self.path)

    def append(self, record: AuditRecord | RequestRecord) -> None:
        """Write one record."""
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    async def aappend(self, record: AuditRecord | RequestRecord) -> None:
        """Write one record from async code without blocking the event loop on the file lock."""
        await asyncio.to_thread(self.append, record)

    def record(self, **fields: Any) -> AuditRecord:
        """Build an :class:`AuditRecord` from keyword fields, write it and return it."""
        audit_record = AuditRecord(**fields)
        self.append(audit_record)
        return audit_record

    @overload
    def read(self, kind: Literal["call"] = "call") -> list[AuditRecord]: ...
    @overload
    def read(self, kind: Literal["request"]) -> list[RequestRecord]: ...
    @overload
    def read(self, kind: Literal["all"]) -> list[AuditRecord | RequestRecord]: ...
    def read(self, kind: RecordKind = "call") -> Sequence[AuditRecord | RequestRecord]:
        """The records written so far (see :func:`read_audit_log`)."""
        return read_audit_log(self.path, kind=kind)


@overload
def read_audit_log(path: str | Path, *, kind: Literal["call"] = "call") -> list[AuditRecord]: ...
@overload
def read_audit_log(path: str | Path, *, kind: Literal["request"]) -> list[RequestRecord]: ...
@overload
def read_audit_log(path: str | Path, *, kind: Literal["all"]) -> list[AuditRecord | RequestRecord]: ...
def read_audit_log(path: str | Path, *, kind: RecordKind = "call") -> Sequence[AuditRecord | RequestRecord]:
    """Read an audit log back: its member calls (the default), its request records, or both (``kind="all"``).

    Every line is checked, whichever kind is returned: a line of the other kind is valid and left out, a
    corrupt one raises. A line without ``kind`` is a member call (as every line of logs written before request
    records existed).

    Raises:
        AuditLogError: The file does not exist, or a line is not JSON, not a valid record or of an unknown kind;
            the message names the line number (blank lines are skipped).
    """
    if kind not in ("call", "request", "all"):
        raise ValueError(f"kind must be 'call', 'request' or 'all', got {kind!r}")
    file = Path(path)
    if not file.is_file():
        raise AuditLogError("no audit log file here", path=file)
    records: list[AuditRecord | RequestRecord] = []
    for number, data in iter_jsonl(file, AuditLogError, json_message=_not_json_message, objects_only=False):
        line_kind = data.get("kind", "call") if isinstance(data, dict) else "call"
        if line_kind not in ("call", "request"):
            raise AuditLogError(
                f"unknown record kind {str(line_kind)[:40]!r} (expected no kind, or 'request')",
                path=file,
                line=number,
            )
        model: type[AuditRecord] | type[RequestRecord] = (
            RequestRecord if line_kind == "request" else AuditRecord
        )
        try:
            record = model.model_validate(data)
        except ValidationError as error:
            fields = ", ".join(".".join(str(part) for part in problem["loc"]) for problem in error.errors())
            what = "request record" if line_kind == "request" else "audit record"
            raise AuditLogError(f"not a valid {what} (fields: {fields})", path=file, line=number) from None
        if kind == "all" or kind == line_kind:
            records.append(record)
    return records


def _not_json_message(error: json.JSONDecodeError) -> str:
    return f"not valid JSON ({error.msg}, column {error.colno})"
