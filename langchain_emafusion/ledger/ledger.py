"""Read an audit log's request records and sum them per UTC day and in total: spend against a baseline.

Definitions (the same for the table, ``--json`` and the plot):

- **requests**: what callers asked for. A fusion-graph request (decomposer, subtasks, merge) counts once, on the
  day of its first call; **routed** counts every record (one per pipeline request), **failed** those that
  failed.
- **spent**: every record's cost, the decomposer's, the merge's and failed requests' included.
- **counterfactual**: what the baseline alone would have cost, over the answered direct requests and subtasks
  (a single member makes no decomposer or merge call, so those count as spend only). **saved** = counterfactual
  − spent; its share is of the counterfactual.
- **model mix**: share of the answered routed requests per member (a request answered by several members
  through tier 2 splits its share equally among them).
- **quality**: the mean router-predicted quality of the answers against the baseline's, over the answered direct
  requests and subtasks where both are known (``quality_n`` of them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.privacy.audit import AuditRecord, RequestRecord, read_audit_log

__all__ = ["LedgerError", "LedgerRow", "LedgerSummary", "counterfactual", "read_ledger", "summarize_ledger"]

TOTAL = "total"
"""The label of the summary's total row."""


class LedgerError(EmaFusionError, ValueError):
    """An audit log has no request records, or they lack what a summary needs; the message says why."""


@dataclass(frozen=True)
class LedgerRow:
    """One UTC day's figures (``label`` ``YYYY-MM-DD``), or the total's (``label`` ``"total"``)."""

    label: str
    requests: int
    routed: int
    failed: int
    spent_usd: float
    counterfactual_usd: float
    saved_usd: float
    saved_share: float | None
    """``saved_usd`` / ``counterfactual_usd``; None when the counterfactual is 0."""
    model_mix: dict[str, float]
    """Member → share of the answered routed requests, largest first."""
    quality: float | None
    """Mean predicted quality of the answers, over the ``quality_n`` requests where it and the baseline's are known."""
    baseline_quality: float | None
    quality_n: int
    compared: int
    """Answered direct requests and subtasks: those with a counterfactual."""


@dataclass(frozen=True)
class LedgerSummary:
    """A ledger per day and in total, against one baseline (or each record's own)."""

    baseline: str | None
    """The baseline asked for (``--baseline``); None: each record's own, as served."""
    baselines: dict[str, int]
    """Baseline used → records compared against it."""
    sources: list[str]
    """How the records' own baselines were chosen (their ``baseline_source``), for the baseline(s) used."""
    days: list[LedgerRow]
    total: LedgerRow
    first: str | None = None
    last: str | None = None
    """First and last record timestamps (ISO 8601, UTC)."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serializable data (what ``emafusion ledger --json`` prints)."""
        return asdict(self)


def _version() -> str:
    try:
        return metadata.version("langchain-emafusion")
    except metadata.PackageNotFoundError:
        return "unknown"


def read_ledger(path: str | Path) -> list[RequestRecord]:
    """The request records of an audit log, in file order.

    Raises:
        AuditLogError: The file is missing or a line is corrupt (naming the line).
        LedgerError: The log holds no request record (it was written before they existed, or not by
            ``FusionChatModel``).
    """
    entries = read_audit_log(path, kind="all")
    records = [entry for entry in entries if isinstance(entry, RequestRecord)]
    if not records:
        calls = sum(isinstance(entry, AuditRecord) for entry in entries)
        raise LedgerError(
            f"{path}: no ledger records ({calls} member-call line(s) only). Ledger records (one per routed "
            "request) are written by FusionChatModel(audit_log=...) from this version of langchain-emafusion "
            f"on ({_version()}); this log was written by an earlier version or by AuditLog directly"
        )
    return records


def _counts(record: RequestRecord) -> bool:
    """Whether a record has a counterfactual: an answered direct request or subtask."""
    return record.outcome == "ok" and record.stage in ("direct", "subtask")


def counterfactual(record: RequestRecord, baseline: str | None = None) -> tuple[str, float, float | None]:
    """The baseline's name, cost and predicted quality for one record (``baseline`` None: the record's own).

    Raises:
        LedgerError: The record holds no estimate for ``baseline``.
    """
    name = baseline or record.baseline
    estimate = record.members.get(name)
    if estimate is None:
        raise LedgerError(f"request {record.request_id} holds no estimate for {name!r}")
    return name, estimate.cost_usd, estimate.quality


def summarize_ledger(records: Sequence[RequestRecord], *, baseline: str | None = None) -> LedgerSummary:
    """Sum request records per UTC day and in total (see the module docstring for each figure).

    Args:
        records: Request records, e.g. from :func:`read_ledger`.
        baseline: Compare with this member instead of each record's own baseline; every answered direct request
            and subtask must hold an estimate for it (records hold one for every pool member of their time).

    Raises:
        LedgerError: No records, or ``baseline`` missing from some of them (the message names the members every
            record can be compared with).
    """
    if not records:
        raise LedgerError("no ledger records to summarize")
    ordered = sorted(records, key=lambda record: record.timestamp)
    compared = [record for record in ordered if _counts(record)]
    if baseline is not None:
        missing = [record for record in compared if baseline not in record.members]
        if missing:
            common = set.intersection(*(set(record.members) for record in compared)) if compared else set()
            raise LedgerError(
                f"{len(missing)} of {len(compared)} answered request(s) hold no estimate for {baseline!r} (it was "
                "not in the pool when they were served); members every record can be compared with: "
                + (", ".join(sorted(common)) or "none")
            )
    groups: dict[str, str] = {}  # request group -> UTC day of its first record
    for record in ordered:
        groups.setdefault(record.parent_id or record.request_id, _day(record))
    by_day: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in ordered:
        by_day[_day(record)].append(record)
    days = [
        _row(day, day_records, sum(1 for first in groups.values() if first == day), baseline)
        for day, day_records in sorted(by_day.items())
    ]
    used: dict[str, int] = defaultdict(int)
    sources: dict[str, None] = {}
    for record in compared:
        used[baseline or record.baseline] += 1
        if baseline is None or baseline == record.baseline:
            sources[record.baseline_source] = None
    notes = []
    if baseline is not None and not sources:
        notes.append(
            f"{baseline} was no record's own baseline: compared by the records' per-member estimates"
        )
    return LedgerSummary(
        baseline=baseline,
        baselines=dict(used),
        sources=list(sources),
        days=days,
        total=_row(TOTAL, ordered, len(groups), baseline),
        first=ordered[0].timestamp.isoformat(),
        last=ordered[-1].timestamp.isoformat(),
        notes=notes,
    )


def _day(record: RequestRecord) -> str:
    return record.timestamp.date().isoformat()


def _row(label: str, records: Sequence[RequestRecord], requests: int, baseline: str | None) -> LedgerRow:
    spent = sum(record.cost_usd for record in records)
    compared = [record for record in records if _counts(record)]
    cost = 0.0
    ours: list[float] = []
    theirs: list[float] = []
    for record in compared:
        _, baseline_cost, baseline_quality = counterfactual(record, baseline)
        cost += baseline_cost
        if record.predicted_quality is not None and baseline_quality is not None:
            ours.append(record.predicted_quality)
            theirs.append(baseline_quality)
    mix: dict[str, float] = defaultdict(float)
    answered = [record for record in records if record.outcome == "ok" and record.models]
    for record in answered:
        for name in record.models:
            mix[name] += 1.0 / len(record.models)
    shares = {name: weight / len(answered) for name, weight in mix.items()}
    saved = cost - spent
    return LedgerRow(
        label=label,
        requests=requests,
        routed=len(records),
        failed=sum(record.outcome == "error" for record in records),
        spent_usd=spent,
        counterfactual_usd=cost,
        saved_usd=saved,
        saved_share=saved / cost if cost > 0 else None,
        model_mix=dict(sorted(shares.items(), key=lambda item: (-item[1], item[0]))),
        quality=sum(ours) / len(ours) if ours else None,
        baseline_quality=sum(theirs) / len(theirs) if theirs else None,
        quality_n=len(ours),
        compared=len(compared),
    )
