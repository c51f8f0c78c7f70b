"""`TemplatePart`: one atomic task of a multi-part seed template, with its own reference and checker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from langchain_emafusion.synthesis.scoring import AnswerType, ScoringSpec

__all__ = ["TemplatePart"]


class TemplatePart(BaseModel):
    """A part of a ``multi_part`` template: a sub-prompt over the template's slots, scored on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(min_length=1)
    """The part's task type (e.g. ``arithmetic``), for training decomposition and per-part routing."""

    prompt: str = Field(min_length=1)
    """The part's prompt template (``{slot}`` placeholders)."""

    answer_type: AnswerType
    """How the part's answer is extracted."""

    reference: str | None = None
    """Expression over the slots giving the part's correct answer."""

    scoring: ScoringSpec
    """How the part's answer is scored."""
