"""Outcome tables: the project's interchange format (one JSON object per (prompt, model) pair).

The format is documented in ``../shared/docs/EVALUATION.md``; :class:`OutcomeRow` is its schema. A table is
*complete*: every prompt has exactly one row for every model, and all rows of a prompt agree on its text, task and
reference. :func:`read_outcomes` checks all of this and raises :class:`OutcomeTableError` naming the file and the
line of the first bad row.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.jsonl import iter_jsonl

__all__ = ["OutcomeRow", "OutcomeTable", "read_outcomes", "write_outcomes", "split_outcomes"]


class OutcomeRow(BaseModel):
    """One (prompt, model) outcome: what the model answered and how good, costly and slow it was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_id: str = Field(min_length=1)
    """Stable id of the prompt."""

    prompt: str
    """The user prompt text, as the model saw it."""

    model: str = Field(min_length=1)
    """Model name."""

    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    """Quality of this model's answer in [0, 1] (1 = correct)."""

    task: str | None = None
    """Task/category label: for training and reporting only, never an input at decision time."""

    cost_usd: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    """What this call cost, in US$."""

    latency_s: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    """Wall time of this call, in seconds."""

    input_tokens: int | None = Field(default=None, ge=0)
    """Input token count."""

    output_tokens: int | None = Field(default=None, ge=0)
    """Output token count."""

    response: str | None = None
    """The model's answer text."""

    answer: str | None = None
    """The answer normalized to a comparable key (option letter, final number); None if none."""

    reference: str | None = None
    """The correct answer key, when known."""


def _format_validation_error(error: ValidationError) -> str:
    parts = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "row"
        parts.append(f"field {field!r}: {detail['msg']}")
    return "; ".join(parts)


class OutcomeTable:
    """A validated, complete outcome table with dense per-(prompt, model) arrays for fast figures.

    Prompts and models keep the order of their first appearance in the rows. Missing ``cost_usd`` counts as 0 in
    :attr:`costs`; missing ``latency_s`` is NaN in :attr:`latencies`.

    Attributes:
        rows: The rows, in input order.
        prompt_ids: Unique prompt ids.
        models: Unique model names.
        prompts: Prompt text per prompt.
        tasks: Task label per prompt (None where absent).
        references: Reference answer key per prompt (None where absent).
        scores: Array (n_prompts, n_models) of scores.
        costs: Array (n_prompts, n_models) of costs in US$ (0 where absent).
        latencies: Array (n_prompts, n_models) of latencies in seconds (NaN where absent).
        answers: Answer key per prompt and model (None where absent).
    """

    def __init__(
        self,
        rows: Sequence[OutcomeRow],
        *,
        line_numbers: Sequence[int] | None = None,
        path: str | Path | None = None,
    ) -> None:
        """Validate rows into a table.

        Args:
            rows: The rows, in any order.
            line_numbers: The 1-based source line of each row, used in error messages.
            path: The source file, used in error messages.

        Raises:
            OutcomeTableError: The table is empty, has a duplicate (prompt, model) pair, a prompt missing a model,
                or rows of one prompt that disagree on its text, task or reference.
        """
        if not rows:
            raise OutcomeTableError("the outcome table has no rows", path=path)
        lines = list(line_numbers) if line_numbers is not None else list(range(1, len(rows) + 1))
        self.rows: tuple[OutcomeRow, ...] = tuple(rows)
        prompt_index: dict[str, int] = {}
        model_index: dict[str, int] = {}
        first_row_of_prompt: list[OutcomeRow] = []
        for row, line in zip(self.rows, lines, strict=True):
            if row.model not in model_index:
                model_index[row.model] = len(model_index)
            if row.prompt_id not in prompt_index:
                prompt_index[row.prompt_id] = len(prompt_index)
                first_row_of_prompt.append(row)
                continue
            first = first_row_of_prompt[prompt_index[row.prompt_id]]
            for field in ("prompt", "task", "reference"):
                if getattr(row, field) != getattr(first, field):
                    raise OutcomeTableError(
                        f"prompt_id {row.prompt_id!r}: field {field!r} differs from the prompt's first row",
                        path=path,
                        line=line,
                    )
        self.prompt_ids: list[str] = list(prompt_index)
        self.models: list[str] = list(model_index)
        self.prompts: list[str] = [row.prompt for row in first_row_of_prompt]
        self.tasks: list[str | None] = [row.task for row in first_row_of_prompt]
        self.references: list[str | None] = [row.reference for row in first_row_of_prompt]
        n_prompts, n_models = len(self.prompt_ids), len(self.models)
        self._row_index = np.full((n_prompts, n_models), -1, dtype=np.int64)
        self.scores = np.zeros((n_prompts, n_models), dtype=np.float64)
        self.costs = np.zeros((n_prompts, n_models), dtype=np.float64)
        self.latencies = np.full((n_prompts, n_models), np.nan, dtype=np.float64)
        self.answers: list[list[str | None]] = [[None] * n_models for _ in range(n_prompts)]
        for position, (row, line) in enumerate(zip(self.rows, lines, strict=True)):
            p, m = prompt_index[row.prompt_id], model_index[row.model]
            if self._row_index[p, m] >= 0:
                raise OutcomeTableError(
                    f"duplicate row for prompt_id {row.prompt_id!r} and model {row.model!r} "
                    f"(first at line {lines[self._row_index[p, m]]})",
                    path=path,
                    line=line,
                )
            self._row_index[p, m] = position
            self.scores[p, m] = row.score
            self.costs[p, m] = row.cost_usd or 0.0
            if row.latency_s is not None:
                self.latencies[p, m] = row.latency_s
            self.answers[p][m] = row.answer
        missing = np.argwhere(self._row_index < 0)
        if len(missing):
            p, m = (int(value) for value in missing[0])
            raise OutcomeTableError(
                f"prompt_id {self.prompt_ids[p]!r} has no row for model {self.models[m]!r} "
                f"({len(missing)} (prompt, model) pairs missing; every prompt needs a row for every model)",
                path=path,
                line=lines[int(self._row_index[p][self._row_index[p] >= 0][0])],
            )

    @property
    def n_prompts(self) -> int:
        """Number of prompts."""
        return len(self.prompt_ids)

    @property
    def has_costs(self) -> bool:
        """Whether any row has a ``cost_usd``."""
        return any(row.cost_usd is not None for row in self.rows)

    @property
    def has_latencies(self) -> bool:
        """Whether any row has a ``latency_s``."""
        return bool(np.isfinite(self.latencies).any())

    @property
    def has_answers(self) -> bool:
        """Whether any row has an ``answer`` key (needed by answer-level fusion such as a vote)."""
        return any(answer is not None for answers in self.answers for answer in answers)

    def row(self, prompt_index: int, model_index: int) -> OutcomeRow:
        """Return the row of one (prompt, model) pair, by position in :attr:`prompt_ids` and :attr:`models`."""
        return self.rows[int(self._row_index[prompt_index, model_index])]

    def subset(self, prompt_ids: Iterable[str]) -> OutcomeTable:
        """Return a new table with only these prompts (in the given order) and all their rows."""
        index = {prompt_id: position for position, prompt_id in enumerate(self.prompt_ids)}
        selected: list[OutcomeRow] = []
        for prompt_id in prompt_ids:
            p = index[prompt_id]
            selected.extend(self.row(p, m) for m in range(len(self.models)))
        return OutcomeTable(selected)

    def content_hash(self) -> str:
        """Return a sha256 of the rows' canonical JSON: equal tables give equal hashes."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(row.model_dump_json(exclude_none=True).encode())
            digest.update(b"\n")
        return digest.hexdigest()


def read_outcomes(path: str | Path) -> OutcomeTable:
    """Read and validate an outcome table from a JSONL file.

    Args:
        path: The JSONL file: one object per line; blank lines are ignored. A name ending in ``.gz`` is read
            as gzip-compressed JSONL (as ``../shared/data/mmlu-pro/outcomes.jsonl.gz``).

    Returns:
        The validated table.

    Raises:
        OutcomeTableError: A line is not a JSON object, a row breaks the schema, or the table is incomplete; the
            message names the file and the line.
        FileNotFoundError: The file does not exist.
    """
    source = Path(path)
    rows: list[OutcomeRow] = []
    line_numbers: list[int] = []
    for line_number, data in iter_jsonl(source, OutcomeTableError, text=_decoded(source)):
        try:
            rows.append(OutcomeRow.model_validate(data))
        except ValidationError as error:
            raise OutcomeTableError(_format_validation_error(error), path=source, line=line_number) from None
        line_numbers.append(line_number)
    return OutcomeTable(rows, line_numbers=line_numbers, path=source)


def _decoded(source: Path) -> str:
    """The file's text; a byte sequence that is not UTF-8 is an OutcomeTableError naming its line."""
    data = source.read_bytes()
    if source.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise OutcomeTableError(f"not a readable gzip file ({error})", path=source) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OutcomeTableError(
            f"not UTF-8 text ({error.reason} at byte {error.start}); outcome tables are UTF-8 JSONL",
            path=source,
            line=data.count(b"\n", 0, error.start) + 1,
        ) from None


def write_outcomes(rows: OutcomeTable | Iterable[OutcomeRow], path: str | Path) -> Path:
    """Write rows (or a whole table) as JSONL, omitting absent optional fields.

    Args:
        rows: A table or any iterable of rows.
        path: Destination file; parent folders are created.

    Returns:
        The path written.
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    iterable = rows.rows if isinstance(rows, OutcomeTable) else rows
    with destination.open("w", encoding="utf-8") as handle:
        for row in iterable:
            handle.write(row.model_dump_json(exclude_none=True))
            handle.write("\n")
    return destination


def split_outcomes(
    table: OutcomeTable, *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[OutcomeTable, OutcomeTable]:
    """Split a table by prompt into (train, test) by a seeded hash of each ``prompt_id``.

    The prompts with the smallest ``sha256(seed, prompt_id)`` go to the test table, so a prompt's side depends
    on its id and the seed, not on the order of the file's rows: the same table written in another order (or
    with other prompts appended) splits the same way.

    Args:
        table: The table to split.
        test_fraction: Share of prompts that go to the test table (rounded to the nearest count, at least 1).
        seed: Seed of the hash.

    Returns:
        The train table and the test table; each keeps the original prompt order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(1, round(table.n_prompts * test_fraction))
    ranked = sorted(table.prompt_ids, key=lambda pid: hashlib.sha256(f"{seed}\x00{pid}".encode()).digest())
    test_set = set(ranked[:n_test])
    train_ids = [pid for pid in table.prompt_ids if pid not in test_set]
    test_ids = [pid for pid in table.prompt_ids if pid in test_set]
    return table.subset(train_ids), table.subset(test_ids)
