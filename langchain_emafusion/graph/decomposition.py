"""`DecompositionPlan`: the decomposer's structured output, its strict parser and its execution order.

The decomposer model answers under this schema (JSON-schema constrained where the member supports it), but a
plan is still checked here before anything runs: the text must be one JSON object of the schema, ids must be
unique, every ``depends_on`` must name another subtask of the plan and the dependencies must not form a cycle.
Anything else raises :class:`~langchain_emafusion.graph.errors.InvalidDecompositionError`, never another
exception type, whatever the model wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Any

from langchain_core.utils.json import parse_json_markdown
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_emafusion.graph.errors import InvalidDecompositionError
from langchain_emafusion.graph.subtask import PlannedSubtask

__all__ = ["MAX_SUBTASKS", "DecompositionPlan", "decoding_schema", "parse_decomposition"]

MAX_SUBTASKS = 8
"""Most subtasks one plan may hold; a longer plan is refused rather than cut (cutting would drop parts)."""


class DecompositionPlan(BaseModel):
    """A request split into atomic subtasks, with the dependencies between them.

    Example:
        .. code-block:: python

            plan = parse_decomposition('{"subtasks": [{"id": "a", "task": "Name a colour."},'
                                       ' {"id": "b", "task": "Write a haiku about it.", "depends_on": ["a"]}]}')
            plan.waves()  # [['a'], ['b']]
    """

    model_config = ConfigDict(extra="ignore")

    subtasks: list[PlannedSubtask] = Field(min_length=1, max_length=MAX_SUBTASKS)
    """The subtasks, in the order the request states them."""

    def by_id(self) -> dict[str, PlannedSubtask]:
        """The subtasks keyed by id."""
        return {subtask.id: subtask for subtask in self.subtasks}

    def waves(self) -> list[list[str]]:
        """Subtask ids grouped in topological order: each wave needs only answers of earlier waves.

        Within a wave the plan's own order is kept.

        Raises:
            InvalidDecompositionError: Duplicate ids, an unknown or self dependency, or a cycle.
        """
        ids = [subtask.id for subtask in self.subtasks]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidDecompositionError(f"decomposition repeats subtask id(s) {duplicates}")
        known = set(ids)
        for subtask in self.subtasks:
            unknown = [d for d in subtask.depends_on if d not in known]
            if unknown:
                raise InvalidDecompositionError(
                    f"subtask {subtask.id!r} depends on unknown id(s) {unknown}; the plan's ids are {ids}"
                )
            if subtask.id in subtask.depends_on:
                raise InvalidDecompositionError(f"subtask {subtask.id!r} depends on itself")
        sorter: TopologicalSorter[str] = TopologicalSorter({s.id: s.depends_on for s in self.subtasks})
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1]) if len(exc.args) > 1 else "?"
            raise InvalidDecompositionError(f"decomposition has a dependency cycle: {cycle}") from None
        order = {subtask_id: position for position, subtask_id in enumerate(ids)}
        waves: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=order.__getitem__)
            waves.append(ready)
            sorter.done(*ready)
        return waves


def decoding_schema(
    min_subtasks: int = 1, max_subtasks: int = MAX_SUBTASKS, *, allow_single: bool = False
) -> dict[str, Any]:
    """The JSON schema the decomposer decodes under: plans that are valid by construction.

    Subtask ``k`` has the id ``"tk"`` and may depend only on ``t1`` … ``t(k-1)``, so a plan decoded under this
    schema can hold neither an unknown id nor a cycle (the plan lists subtasks in an order that runs). Length
    and pattern limits are left to :func:`parse_decomposition`: grammar-constrained decoders (llama.cpp) unroll
    ``maxLength`` into grammars too large to compile.

    Args:
        min_subtasks: Fewest subtasks in a plan.
        max_subtasks: Most subtasks in a plan (at most ``MAX_SUBTASKS``).
        allow_single: Also allow a one-subtask plan ("this is one task") below ``min_subtasks``.
    """
    count = max(1, min(max_subtasks, MAX_SUBTASKS))
    least = max(1, min(min_subtasks, count))

    def subtask(number: int) -> dict[str, Any]:
        earlier = [f"t{i}" for i in range(1, number)]
        depends_on: dict[str, Any] = (
            {"type": "array", "items": {"type": "string", "enum": earlier}}
            if earlier
            else {"type": "array", "items": {"type": "string"}, "maxItems": 0}
        )
        return {
            "type": "object",
            "properties": {
                "id": {"const": f"t{number}"},
                "task": {"type": "string"},
                "depends_on": depends_on,
                "difficulty": {"type": "string", "enum": ["easy", "medium", "hard"]},
            },
            "required": ["id", "task", "depends_on", "difficulty"],
        }

    plans = [
        {"type": "array", "prefixItems": [subtask(n) for n in range(1, length + 1)]}
        for length in ([1] if allow_single and least > 1 else []) + list(range(least, count + 1))
    ]
    return {
        "title": "DecompositionPlan",
        "type": "object",
        "properties": {"subtasks": {"anyOf": plans}},
        "required": ["subtasks"],
    }


def parse_decomposition(raw: str | Mapping[str, Any]) -> DecompositionPlan:
    """Parse and check a decomposer's output: JSON text (optionally in a Markdown fence) or a mapping.

    Returns:
        A plan whose :meth:`DecompositionPlan.waves` succeeds.

    Raises:
        InvalidDecompositionError: The output is not one JSON object of the schema, or its ids or
            dependencies are inconsistent (see :meth:`DecompositionPlan.waves`).
    """
    data: Any = raw
    if isinstance(raw, str):
        try:
            # Strict JSON: a plan cut off by the token limit must be refused, not half-parsed.
            data = parse_json_markdown(raw, parser=json.loads)
        except (json.JSONDecodeError, ValueError, TypeError, RecursionError) as exc:
            raise InvalidDecompositionError(f"decomposition is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise InvalidDecompositionError(
            f"decomposition must be a JSON object with a 'subtasks' list, got {type(data).__name__}"
        )
    try:
        plan = DecompositionPlan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(plan)'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidDecompositionError(f"decomposition does not fit the schema: {problems}") from None
    blank = [subtask.id for subtask in plan.subtasks if not subtask.task.strip()]
    if blank:
        raise InvalidDecompositionError(f"subtask(s) {blank} have an empty task")
    plan.waves()
    return plan
