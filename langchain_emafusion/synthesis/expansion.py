"""Expand seed templates into a deterministic list of distinct prompts."""

from __future__ import annotations

import random
from collections.abc import Sequence

from langchain_emafusion.synthesis.errors import SeedTemplateError
from langchain_emafusion.synthesis.prompt import SynthPrompt
from langchain_emafusion.synthesis.template import SeedTemplate

__all__ = ["expand_templates"]

_MAX_ATTEMPTS = 50
"""Draws tried per variant before a template counts as too small for its ``variants``."""


def expand_templates(
    templates: Sequence[SeedTemplate], *, n: int | None = None, seed: int = 0
) -> list[SynthPrompt]:
    """Expand templates into prompts, round-robin over templates (variant 0 of each, then variant 1, ...).

    The order is fixed by the templates and the seed, so the expansion for ``n`` is a prefix of the expansion
    for any larger ``n``, and every template is represented early. Each variant draws from its own
    ``random.Random`` seeded with (seed, template id, variant), so adding a template changes no other prompt.
    A draw that repeats an earlier prompt's text is redrawn.

    Args:
        templates: The seed templates.
        n: How many prompts (None: every template's ``variants``).
        seed: The run's seed.

    Returns:
        The prompts, with ``paraphrase`` set on those chosen for paraphrasing.

    Raises:
        SeedTemplateError: ``n`` exceeds the templates' total variants, a template cannot produce enough distinct
            prompts, or a template fails to fill (the message names the template and the field).
    """
    total = sum(template.variants for template in templates)
    if n is None:
        n = total
    if n < 1:
        raise SeedTemplateError(f"n must be at least 1, got {n}")
    if n > total:
        raise SeedTemplateError(
            f"n={n} exceeds the {total} prompts the templates declare (sum of 'variants'); raise 'variants' or lower n"
        )
    prompts: list[SynthPrompt] = []
    seen: set[str] = set()
    for variant in range(max(template.variants for template in templates)):
        for template in templates:
            if variant >= template.variants:
                continue
            prompt = _variant(template, variant, seed, seen)
            seen.add(prompt.prompt)
            prompts.append(prompt)
            if len(prompts) == n:
                return prompts
    return prompts


def _variant(template: SeedTemplate, variant: int, seed: int, seen: set[str]) -> SynthPrompt:
    prompt_id = f"{template.id}/{variant:04d}"
    for attempt in range(_MAX_ATTEMPTS):
        rng = random.Random(f"{seed}/{template.id}/{variant}/{attempt}")
        try:
            prompt = template.fill(template.variables(rng), prompt_id=prompt_id, variant=variant)
        except ValueError as error:
            raise SeedTemplateError(f"template {template.id!r}: {error}") from None
        if prompt.prompt in seen:
            continue
        if template.paraphrase is not None:
            chooser = random.Random(f"{seed}/{template.id}/{variant}/paraphrase")
            if chooser.random() < template.paraphrase.fraction:
                prompt.paraphrase = True
                prompt.paraphrase_instruction = template.paraphrase.instruction
                prompt.paraphrase_model = template.paraphrase.model
        return prompt
    raise SeedTemplateError(
        f"template {template.id!r}: field 'variants' ({template.variants}) exceeds the distinct prompts its slots "
        f"give (variant {variant} repeated an earlier prompt {_MAX_ATTEMPTS} times); add slot values or lower it"
    )
