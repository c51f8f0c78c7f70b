"""`SeedTemplate`: one seed prompt template with slots, a reference computed from them and a scoring spec."""

from __future__ import annotations

import json
import random
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_emafusion.synthesis.checkers import ResolvedCheck, reference_key
from langchain_emafusion.synthesis.expressions import evaluate_expression, expression_names
from langchain_emafusion.synthesis.paraphrase import ParaphraseSpec
from langchain_emafusion.synthesis.part import TemplatePart
from langchain_emafusion.synthesis.prompt import SynthPrompt
from langchain_emafusion.synthesis.scoring import NEEDS_REFERENCE, AnswerType, ScoringSpec
from langchain_emafusion.synthesis.slots import SlotSpec

__all__ = ["SeedTemplate", "MULTI_PART_TASK"]

MULTI_PART_TASK = "multi_part"
"""The task type of templates whose prompts hold several atomic tasks (``parts``)."""

_DEFAULT_MULTI_PART_PROMPT = "Please do the following {n_parts} tasks. Answer each one on its own line, numbered 1 to {n_parts}.\n\n{parts}"


def _format_fields(template: str) -> set[str]:
    """The root names of a ``str.format`` template's fields (``{a[b]}`` and ``{a.b}`` give ``a``)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            root = field.split("[", 1)[0].split(".", 1)[0]
            if not root or root.isdigit():
                raise ValueError(f"placeholder {{{field}}} must name a slot")
            names.add(root)
    return names


class SeedTemplate(BaseModel):
    """A seed prompt template: slots filled with drawn values give prompts whose correct answers are known.

    Example (YAML):
        .. code-block:: yaml

            - id: order-total
              task: arithmetic
              difficulty: easy
              variants: 20
              prompt: "{company} orders {qty} licences at ${price} each. What is the total in dollars?"
              slots:
                company: {generator: company}
                qty: {range: [2, 40]}
                price: {values: [12, 15, 49.5]}
              answer_type: number
              reference: "qty * price"
              scoring: {checker: numeric, tolerance: 0.01}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Unique id (lower case, digits, ``-``, ``_``); prompt ids are ``<id>/<variant>``."""

    task: str = Field(min_length=1)
    """Task type, the outcome table's ``task`` label; ``multi_part`` for templates with ``parts``."""

    family: str | None = None
    """Task family for reporting (default: the task type)."""

    difficulty: Literal["easy", "medium", "hard"] = "medium"
    """Intended difficulty."""

    description: str | None = None
    """What the template exercises, for people."""

    prompt: str | None = None
    """The prompt template with ``{slot}`` placeholders; for multi-part templates optional, with ``{parts}``."""

    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    """Slot name -> where its values come from."""

    derived: dict[str, str] = Field(default_factory=dict)
    """Name -> expression over the slots (and earlier derived names), computed in order; usable like slots."""

    answer_type: AnswerType | None = None
    """How an answer is extracted: number, label, text, json, bullets or code (single-task templates)."""

    reference: str | None = None
    """Expression over the slots giving the correct answer (single-task templates)."""

    scoring: ScoringSpec | None = None
    """How an answer is scored (single-task templates)."""

    parts: list[TemplatePart] | None = None
    """Multi-part templates: the atomic tasks, each with its own reference and checker."""

    variants: int = Field(default=10, ge=1, le=100_000)
    """How many distinct prompts the template contributes."""

    paraphrase: ParaphraseSpec | None = None
    """Reword a share of the prompts with a pool model (single-task templates)."""

    @model_validator(mode="after")
    def _consistent(self) -> SeedTemplate:
        multi = self.parts is not None
        if multi != (self.task == MULTI_PART_TASK):
            raise ValueError(
                f"task {MULTI_PART_TASK!r} and field 'parts' go together (task is {self.task!r})"
            )
        known = set(self.slots)
        for name, expression in self.derived.items():
            _check_names(f"derived.{name}", expression_names(expression), known)
            known.add(name)
        if multi:
            assert self.parts is not None
            if len(self.parts) < 2:
                raise ValueError("field 'parts' needs at least 2 parts")
            for field in ("answer_type", "reference", "scoring"):
                if getattr(self, field) is not None:
                    raise ValueError(f"field {field!r} belongs in each part of a multi-part template")
            if self.paraphrase is not None:
                raise ValueError(
                    "field 'paraphrase' would merge the parts: not supported for multi-part templates"
                )
            if self.prompt is not None and "parts" not in _format_fields(self.prompt):
                raise ValueError("field 'prompt' of a multi-part template must contain {parts}")
            if self.prompt is not None:
                _check_names("prompt", _format_fields(self.prompt) - {"parts", "n_parts"}, known)
            for index, part in enumerate(self.parts):
                _check_single(
                    f"parts[{index}].", part.prompt, part.answer_type, part.reference, part.scoring, known
                )
        else:
            if self.prompt is None or self.answer_type is None or self.scoring is None:
                raise ValueError("a single-task template needs fields 'prompt', 'answer_type' and 'scoring'")
            _check_single("", self.prompt, self.answer_type, self.reference, self.scoring, known)
        return self

    @property
    def family_name(self) -> str:
        """The family, defaulting to the task type."""
        return self.family or self.task

    def variables(self, rng: random.Random) -> dict[str, Any]:
        """Draw every slot with ``rng`` and compute the derived values, in order.

        Raises:
            ValueError: A generator or an expression fails (the message names the field).
        """
        values: dict[str, Any] = {}
        for name, spec in self.slots.items():
            try:
                values[name] = spec.draw(rng)
            except ValueError as error:
                raise ValueError(f"field 'slots.{name}': {error}") from None
        for name, expression in self.derived.items():
            try:
                values[name] = evaluate_expression(expression, values)
            except ValueError as error:
                raise ValueError(f"field 'derived.{name}': {error}") from None
        return values

    def fill(self, values: dict[str, Any], *, prompt_id: str, variant: int) -> SynthPrompt:
        """Fill the template with drawn values: the prompt text, its checks and its reference key.

        Raises:
            ValueError: A placeholder or expression fails (the message names the field).
        """
        if self.parts is None:
            assert self.prompt is not None and self.answer_type is not None and self.scoring is not None
            text = _render("prompt", self.prompt, values)
            check = _resolve("", self.reference, self.scoring, self.answer_type, values)
            checks, part_prompts, part_tasks, reference = [check], None, None, reference_key(check)
        else:
            part_prompts = [
                _render(f"parts[{i}].prompt", part.prompt, values) for i, part in enumerate(self.parts)
            ]
            part_tasks = [part.task for part in self.parts]
            checks = [
                _resolve(f"parts[{i}].", part.reference, part.scoring, part.answer_type, values)
                for i, part in enumerate(self.parts)
            ]
            numbered = "\n".join(f"{i}. {part}" for i, part in enumerate(part_prompts, start=1))
            layout = self.prompt or _DEFAULT_MULTI_PART_PROMPT
            text = _render("prompt", layout, {**values, "parts": numbered, "n_parts": len(part_prompts)})
            reference = json.dumps([reference_key(check) for check in checks], ensure_ascii=False)
        return SynthPrompt(
            prompt_id=prompt_id,
            template=self.id,
            task=self.task,
            family=self.family_name,
            difficulty=self.difficulty,
            variant=variant,
            prompt=text,
            original_prompt=text,
            slots=_jsonable(values),
            checks=checks,
            part_prompts=part_prompts,
            part_tasks=part_tasks,
            reference=reference,
            paraphrase_model=None,
            protected=_protected_values(values, text),
        )


def _check_names(field: str, names: set[str], known: set[str]) -> None:
    unknown = sorted(names - known)
    if unknown:
        raise ValueError(
            f"field {field!r} uses unknown slot(s) {unknown}; slots and derived: {sorted(known)}"
        )


def _check_single(
    prefix: str, prompt: str, answer_type: str, reference: str | None, scoring: ScoringSpec, known: set[str]
) -> None:
    _check_names(f"{prefix}prompt", _format_fields(prompt), known)
    if reference is not None:
        _check_names(f"{prefix}reference", expression_names(reference), known)
    elif scoring.checker in NEEDS_REFERENCE:
        raise ValueError(f"checker {scoring.checker!r} needs field '{prefix}reference' (an expression)")
    if answer_type == "label" and not scoring.labels:
        raise ValueError(f"answer_type 'label' needs field '{prefix}scoring.labels'")
    if scoring.checker == "json_fields" and answer_type != "json":
        raise ValueError(f"checker 'json_fields' needs '{prefix}answer_type: json'")


def _render(field: str, template: str, values: dict[str, Any]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(
            f"field {field!r}: cannot fill placeholder ({type(error).__name__}: {error})"
        ) from None


def _resolve(
    prefix: str, reference: str | None, scoring: ScoringSpec, answer_type: str, values: dict[str, Any]
) -> ResolvedCheck:
    ref_value = None
    if reference is not None:
        try:
            ref_value = evaluate_expression(reference, values)
        except ValueError as error:
            raise ValueError(f"field '{prefix}reference': {error}") from None
    try:
        return scoring.resolve(values, _jsonable(ref_value), answer_type=answer_type)  # type: ignore[arg-type]
    except ValueError as error:
        raise ValueError(f"field '{prefix}scoring': {error}") from None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _protected_values(values: dict[str, Any], text: str) -> list[str]:
    """Slot values (scalars, and the scalars inside mappings and lists) that are written in the prompt."""
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            written = str(value)
            if written in text and written not in found and len(written) < 80:
                found.append(written)

    for value in values.values():
        visit(value)
    return found
