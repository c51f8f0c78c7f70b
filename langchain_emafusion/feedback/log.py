"""The feedback log: each routed request's decision, then the scores callers give its answer, in one JSONL file.

``FusionChatModel(feedback_log=PATH)`` appends one :class:`DecisionRecord` per answered request (``"kind":
"decision"``): the run id, the prompt as logs may keep it (every value the privacy scan detected replaced by its
placeholder, whatever the privacy mode), the router, the members that answered and the one whose answer was
returned, the router's predicted quality of each member, cost, tokens and seconds. ``llm.record_feedback(run_id,
score)`` (or :func:`import_langsmith_feedback`) appends a :class:`FeedbackRecord` (``"kind": "feedback"``).
:func:`read_feedback_examples` joins them into training examples: one (prompt, member, score) per scored
decision, from which ``emafusion train --outcomes LOG --base POLICY`` retrains a router
(:mod:`~langchain_emafusion.feedback.training`).

A run id is the LangChain run id of the fusion model's call (``run_id`` in callbacks and LangSmith, and
``response_metadata["fusion"]["request_id"]``). A fusion-graph request is logged per call; feedback on the graph's
own run id (the records' ``parent_id``) scores each of its direct and subtask calls. The latest score of a run
wins.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.jsonl import iter_jsonl
from langchain_emafusion.privacy.audit import file_lock

__all__ = [
    "DecisionRecord",
    "FeedbackExamples",
    "FeedbackLog",
    "FeedbackLogError",
    "FeedbackRecord",
    "import_langsmith_feedback",
    "is_feedback_log",
    "read_feedback_examples",
    "read_feedback_log",
]


class FeedbackLogError(EmaFusionError, ValueError):
    """A feedback log is missing or holds a bad line, or a score is not usable; the message says where and why."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        where = f"{path}" + (f", line {line}" if line is not None else "") if path is not None else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DecisionRecord(BaseModel):
    """One answered request as the feedback log keeps it: what the router saw and decided, and what it cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["decision"] = "decision"
    run_id: str = Field(min_length=1, max_length=200)
    parent_id: str | None = Field(default=None, max_length=200)
    """The fusion-graph request this call belongs to (feedback on it scores this call too)."""
    stage: Literal["direct", "decompose", "subtask", "merge"] = "direct"
    timestamp: datetime = Field(default_factory=_utc_now)
    prompt: str = Field(
        min_length=1, description="The routed text, detected values replaced by placeholders."
    )
    router: str = Field(min_length=1, max_length=200)
    strategy: str = Field(min_length=1, max_length=200)
    models: tuple[str, ...] = Field(default=(), description="Members that answered, in call order.")
    answered_by: str | None = Field(default=None, max_length=200)
    """The member whose answer was returned (None: tier 2 synthesized one, no member's)."""
    predicted_quality: dict[str, float] = Field(default_factory=dict)
    """The router's predicted quality per member, where it predicts one."""
    quality_cost_tradeoff: float | None = Field(default=None, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_s: float | None = Field(default=None, ge=0)


class FeedbackRecord(BaseModel):
    """A score for one run's answer, 0 (wrong or useless) to 1 (right)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["feedback"] = "feedback"
    run_id: str = Field(min_length=1, max_length=200)
    score: float = Field(ge=0, le=1)
    key: str | None = Field(default=None, max_length=200, description="What was scored (LangSmith's key).")
    source: str = Field(default="record_feedback", min_length=1, max_length=100)
    comment: str | None = Field(default=None, max_length=2000)
    timestamp: datetime = Field(default_factory=_utc_now)

    @field_validator("score", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, float) and math.isnan(value):
            raise ValueError("score is NaN")
        return value


LogRecord = DecisionRecord | FeedbackRecord


class FeedbackLog:
    """Appends decision and feedback records to a JSONL file; thread-safe, and never blocks an event loop."""

    def __init__(self, path: str | Path) -> None:
        """Log to ``path`` (created on first write, with its parent folders)."""
        self.path = Path(path).expanduser().resolve()
        self._lock = file_lock(self.path)

    def append(self, record: LogRecord) -> None:
        """Write one record (one open-append-close under the file's lock: lines never interleave)."""
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    async def aappend(self, record: LogRecord) -> None:
        """Write one record from async code (the file lock is taken on a worker thread)."""
        await asyncio.to_thread(self.append, record)

    def record_feedback(
        self,
        run_id: str,
        score: float | bool,
        *,
        key: str | None = None,
        comment: str | None = None,
        source: str = "record_feedback",
    ) -> FeedbackRecord:
        """Write a score for ``run_id`` and return its record.

        Raises:
            FeedbackLogError: The score is not a number in [0, 1] (True/False count as 1/0), or the run id is empty.
        """
        try:
            record = FeedbackRecord(run_id=str(run_id), score=score, key=key, comment=comment, source=source)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors())
            raise FeedbackLogError(
                f"feedback for run {str(run_id)[:80]!r} is not usable ({problems})"
            ) from None
        self.append(record)
        return record


def is_feedback_log(path: str | Path) -> bool:
    """Whether ``path``'s first non-blank line is a feedback log's record (an outcome table's is not)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(data, dict) and data.get("kind") in ("decision", "feedback")
    return False


def read_feedback_log(path: str | Path) -> list[LogRecord]:
    """Every record of a feedback log, in file order.

    Raises:
        FeedbackLogError: The file does not exist, or a line is not JSON or not a valid record (its number said).
    """
    file = Path(path)
    if not file.is_file():
        raise FeedbackLogError("no feedback log file here", path=file)
    records: list[LogRecord] = []
    for number, data in iter_jsonl(file, FeedbackLogError, objects_only=False):
        kind = data.get("kind") if isinstance(data, dict) else None
        model: type[DecisionRecord] | type[FeedbackRecord]
        if kind == "decision":
            model = DecisionRecord
        elif kind == "feedback":
            model = FeedbackRecord
        else:
            raise FeedbackLogError(
                f"unknown record kind {str(kind)[:40]!r} (expected 'decision' or 'feedback')",
                path=file,
                line=number,
            )
        try:
            records.append(model.model_validate(data))
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, p["loc"])) for p in error.errors())
            raise FeedbackLogError(
                f"not a valid {kind} record (fields: {fields})", path=file, line=number
            ) from None
    return records


@dataclass
class FeedbackExamples:
    """Scored decisions as training examples, with an account of every record that did not become one."""

    prompts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    """The member that answered each example."""
    scores: list[float] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    """What each example's request cost (all its calls)."""
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    decisions: int = 0
    feedback: int = 0
    unscored: int = 0
    """Decisions no feedback names (yet)."""
    unmatched_feedback: list[str] = field(default_factory=list)
    """Run ids of feedback that names no decision of the log."""
    no_member: int = 0
    """Scored decisions whose answer was no single member's (synthesized), or decomposer/merge calls."""
    other_keys: int = 0
    """Feedback lines left out because they score another key than the one asked for."""

    def __len__(self) -> int:
        """Number of examples."""
        return len(self.prompts)

    def account(self) -> dict[str, Any]:
        """What was read and what was left out, for a manifest or a report."""
        return {
            "examples": len(self),
            "decisions": self.decisions,
            "feedback_lines": self.feedback,
            "decisions_without_feedback": self.unscored,
            "feedback_naming_no_decision": len(self.unmatched_feedback),
            "scored_but_no_single_member": self.no_member,
            "feedback_of_other_keys": self.other_keys,
            "per_member": {m: self.models.count(m) for m in sorted(set(self.models))},
        }


def read_feedback_examples(path: str | Path, *, key: str | None = None) -> FeedbackExamples:
    """Join a feedback log's decisions with their scores (the latest per run; ``key``: only that key's).

    Raises:
        FeedbackLogError: As :func:`read_feedback_log`.
    """
    records = read_feedback_log(path)
    decisions = [r for r in records if isinstance(r, DecisionRecord)]
    examples = FeedbackExamples(decisions=len(decisions))
    latest: dict[str, float] = {}
    for record in records:
        if isinstance(record, FeedbackRecord):
            examples.feedback += 1
            if key is not None and record.key != key:
                examples.other_keys += 1
                continue
            latest[record.run_id] = record.score
    known = {d.run_id for d in decisions} | {d.parent_id for d in decisions if d.parent_id is not None}
    examples.unmatched_feedback = [run_id for run_id in latest if run_id not in known]
    for decision in decisions:
        score = latest.get(decision.run_id)
        if score is None and decision.parent_id is not None:
            score = latest.get(decision.parent_id)
        if score is None:
            examples.unscored += 1
            continue
        if decision.answered_by is None or decision.stage in ("decompose", "merge"):
            examples.no_member += 1
            continue
        examples.prompts.append(decision.prompt)
        examples.models.append(decision.answered_by)
        examples.scores.append(score)
        examples.run_ids.append(decision.run_id)
        examples.cost_usd.append(decision.cost_usd)
        examples.input_tokens.append(decision.input_tokens)
        examples.output_tokens.append(decision.output_tokens)
    return examples


def import_langsmith_feedback(
    path: str | Path, feedback: Iterable[Any], *, key: str | None = None
) -> dict[str, int]:
    """Append LangSmith feedback on logged runs to the feedback log; return what was imported and left out.

    ``feedback`` is what ``langsmith.Client().list_feedback(run_ids=...)`` yields (``Feedback`` objects) or
    mappings with ``run_id``, ``score`` and optionally ``key`` and ``comment``. Only feedback on a run of this
    log is imported (of ``key`` when given); a score of None (a comment or a correction without a score) is left
    out and counted.

    Raises:
        FeedbackLogError: A score is not a number in [0, 1] (True/False count as 1/0).
    """
    log = FeedbackLog(path)
    runs: set[str] = set()
    if log.path.is_file():
        for record in read_feedback_log(log.path):
            if isinstance(record, DecisionRecord):
                runs.add(record.run_id)
                if record.parent_id is not None:
                    runs.add(record.parent_id)
    counts = {"imported": 0, "not_a_logged_run": 0, "no_score": 0, "other_key": 0}
    for item in feedback:
        get = item.get if isinstance(item, Mapping) else lambda name, obj=item: getattr(obj, name, None)
        run_id, score, item_key = get("run_id"), get("score"), get("key")
        if key is not None and item_key != key:
            counts["other_key"] += 1
        elif run_id is None or str(run_id) not in runs:
            counts["not_a_logged_run"] += 1
        elif score is None:
            counts["no_score"] += 1
        else:
            log.record_feedback(str(run_id), score, key=item_key, comment=get("comment"), source="langsmith")
            counts["imported"] += 1
    return counts
