"""`ParaphraseSpec`: optional rewording of filled-in prompts by a pool model, so prompts are not all one shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ParaphraseSpec", "DEFAULT_PARAPHRASE_INSTRUCTION"]

DEFAULT_PARAPHRASE_INSTRUCTION = (
    "Rewrite the following request in different words, as a colleague might ask it. Keep every number, date, "
    "name, code and quoted text exactly as written, keep what is asked and the answer format. Reply with the "
    "rewritten request only.\n\nRequest:\n{prompt}"
)
"""The default paraphrasing instruction; ``{prompt}`` is the filled-in prompt."""


class ParaphraseSpec(BaseModel):
    """Reword a share of a template's prompts with a pool model.

    A paraphrase that loses any slot value written in the prompt (a number, a name, a date) is rejected and the
    original prompt is kept; the prompt record says so (``paraphrase_status``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, min_length=1)
    """The pool member that paraphrases (default: the run's helper model, see ``SynthesisRunner``)."""

    fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    """Share of the template's prompts that are paraphrased (chosen with the run's seed)."""

    instruction: str = DEFAULT_PARAPHRASE_INSTRUCTION
    """The instruction sent to the model; must contain ``{prompt}``."""

    @field_validator("instruction")
    @classmethod
    def _has_prompt_placeholder(cls, value: str) -> str:
        if "{prompt}" not in value:
            raise ValueError("the instruction must contain {prompt}")
        return value
