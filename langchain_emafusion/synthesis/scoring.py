"""`ScoringSpec`: how a template's answers are scored (a checker against a computed reference, or a judge)."""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_emafusion.synthesis.checkers import ResolvedCheck, resolve_callable
from langchain_emafusion.synthesis.expressions import evaluate_expression

__all__ = ["ScoringSpec", "CheckerName", "AnswerType"]

CheckerName = Literal[
    "exact", "normalized", "numeric", "regex", "json_fields", "bullets", "python_tests", "callable", "judge"
]
AnswerType = Literal["number", "label", "text", "date", "time", "json", "bullets", "code"]

_REGEX_FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL}
# Checkers that compare an answer with the template's reference, so the template must compute one.
NEEDS_REFERENCE = {"exact", "normalized", "numeric", "json_fields"}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "regex": ("pattern",),
    "bullets": ("count",),
    "python_tests": ("tests",),
    "callable": ("function",),
}


class ScoringSpec(BaseModel):
    """How answers to a template are scored; fields other than ``checker`` apply to the checkers named.

    Text fields marked "templated" take ``$slot`` / ``${slot}`` substitutions (``string.Template``: braces of
    regexes and code stay literal).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    checker: CheckerName
    """``exact``, ``normalized`` (case, punctuation and spacing ignored), ``numeric``, ``regex``, ``json_fields``,
    ``bullets`` (structure), ``python_tests`` (unit tests in a subprocess), ``callable`` (a Python function by
    dotted path) or ``judge`` (a pool model decides)."""

    tolerance: float = Field(default=0.0, ge=0)
    """numeric, json_fields: absolute tolerance for numbers."""

    relative_tolerance: float = Field(default=0.0, ge=0)
    """numeric, json_fields: tolerance as a share of the reference's magnitude."""

    pattern: str | None = None
    """regex (templated): the response must contain a match."""

    flags: list[Literal["IGNORECASE", "MULTILINE", "DOTALL"]] = Field(default_factory=list)
    """regex: flags."""

    labels: list[str] | None = None
    """Answer type ``label``: the valid labels; the answer is the label the response names last."""

    fields: list[str] | None = None
    """json_fields: the fields compared (default: every key of the reference)."""

    count: int | str | None = None
    """bullets: exact number of bullet points, or an expression over the slots."""

    max_words: int | None = Field(default=None, gt=0)
    """bullets: most words in one bullet point."""

    must_mention: str | None = None
    """bullets: an expression giving the strings that must appear in the bullets (case-insensitive)."""

    tests: str | None = None
    """python_tests (templated): test code run after the answer's code; passing means it exits with status 0."""

    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """python_tests: time limit of the test subprocess, in seconds."""

    function: str | None = None
    """callable: ``package.module:function(response, reference, check) -> bool | float | (score, answer)``."""

    judge_model: str | None = None
    """judge: the pool member that grades the answer (default: the run's helper model)."""

    criteria: str | None = None
    """judge (templated): what a correct answer must do, shown to the judge with the reference, if any."""

    partial_credit: bool = False
    """json_fields, bullets: score the share of fields / conditions met instead of all-or-nothing."""

    @model_validator(mode="after")
    def _checker_has_its_fields(self) -> ScoringSpec:
        missing = [name for name in _REQUIRED.get(self.checker, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"checker {self.checker!r} needs field(s) {missing}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                # A pattern with $slots may only compile after substitution; check the literal parts.
                if "$" not in self.pattern:
                    raise ValueError(f"field 'pattern' is not a valid regex: {error}") from None
        if self.function is not None:
            resolve_callable(self.function)
        return self

    def resolve(
        self,
        variables: dict[str, Any],
        reference: Any,
        *,
        answer_type: AnswerType,
        labels: list[str] | None = None,
    ) -> ResolvedCheck:
        """Fill this spec in for one prompt: substitute slots, compute counts and mentions.

        Raises:
            ValueError: A templated field names an unknown slot, or an expression fails.
        """
        params: dict[str, Any] = {}
        text_vars = {name: _as_text(value) for name, value in variables.items()}

        def render(text: str) -> str:
            try:
                return string.Template(text).substitute(text_vars)
            except KeyError as error:
                raise ValueError(f"unknown slot ${error.args[0]} (slots: {', '.join(variables)})") from None

        if self.checker == "regex":
            assert self.pattern is not None
            params["pattern"] = render(self.pattern)
            try:
                re.compile(params["pattern"])
            except re.error as error:
                raise ValueError(
                    f"field 'pattern' is not a valid regex after substitution: {error}"
                ) from None
            params["flags"] = sum(_REGEX_FLAGS[flag] for flag in self.flags)
        if self.checker in ("numeric", "json_fields"):
            params["tolerance"] = self.tolerance
            params["relative_tolerance"] = self.relative_tolerance
        if self.checker == "json_fields":
            if not isinstance(reference, dict):
                raise ValueError(
                    "checker 'json_fields' needs a reference that is a mapping of field -> value"
                )
            params["fields"] = self.fields or sorted(reference)
        if self.checker == "bullets":
            count = (
                self.count if isinstance(self.count, int) else evaluate_expression(str(self.count), variables)
            )
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"field 'count' must give a positive integer, got {count!r}")
            params["count"] = count
            params["max_words"] = self.max_words
            if self.must_mention is not None:
                mentions = evaluate_expression(self.must_mention, variables)
                if isinstance(mentions, str) or not isinstance(mentions, list | tuple):
                    raise ValueError("field 'must_mention' must give a list of strings")
                params["must_mention"] = [str(item) for item in mentions]
        if self.checker == "python_tests":
            assert self.tests is not None
            params["tests"] = render(self.tests)
            params["timeout_s"] = self.timeout_s
        if self.checker == "callable":
            params["function"] = self.function
        if self.checker == "judge":
            params["judge_model"] = self.judge_model
            params["criteria"] = render(self.criteria) if self.criteria else None
        if self.checker in ("json_fields", "bullets"):
            params["partial_credit"] = self.partial_credit
        return ResolvedCheck(
            checker=self.checker,
            answer_type=answer_type,
            reference=reference,
            labels=labels if labels is not None else self.labels,
            params=params,
        )


def _as_text(value: Any) -> str:
    return str(value)
