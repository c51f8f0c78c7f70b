"""`SynthPrompt`: one expanded prompt with everything needed to score answers to it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_emafusion.synthesis.checkers import ResolvedCheck

__all__ = ["SynthPrompt"]


class SynthPrompt(BaseModel):
    """An expanded (and possibly paraphrased) prompt: the record written to ``OUT.prompts.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str
    """Stable id: ``<template id>/<variant, 4 digits>``."""

    template: str
    """The seed template's id."""

    task: str
    """The template's task type (``multi_part`` for multi-part templates)."""

    family: str
    """The task family (defaults to the task type)."""

    difficulty: str
    """easy, medium or hard, as the template declares."""

    variant: int = Field(ge=0)
    """Variant number within the template."""

    prompt: str
    """The prompt the models see (the paraphrase when one was accepted)."""

    original_prompt: str
    """The filled-in template before paraphrasing."""

    slots: dict[str, Any]
    """Slot and derived values of this variant."""

    checks: list[ResolvedCheck] = Field(min_length=1)
    """One check for a single-task prompt; one per part, in order, for a multi-part prompt."""

    part_prompts: list[str] | None = None
    """Multi-part only: each part's own prompt (what a decomposition should recover)."""

    part_tasks: list[str] | None = None
    """Multi-part only: each part's task type."""

    reference: str | None = None
    """The outcome table's reference key (for multi-part: a JSON list of the parts' keys)."""

    paraphrase: bool = False
    """Whether this prompt was chosen for paraphrasing."""

    paraphrase_model: str | None = None
    """The pool member that paraphrases it (None before the run picks its helper model)."""

    paraphrase_instruction: str | None = None
    """The paraphrasing instruction (``{prompt}`` marks the prompt), when chosen for paraphrasing."""

    paraphrase_status: str | None = None
    """``accepted``, or why the paraphrase was rejected; None when not paraphrased."""

    protected: list[str] = Field(default_factory=list)
    """Slot values written in the prompt, which a paraphrase must keep."""

    @property
    def is_multi_part(self) -> bool:
        """Whether the prompt holds several parts, each scored on its own."""
        return self.part_prompts is not None
