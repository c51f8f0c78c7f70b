"""Seed templates: the starter set, deterministic expansion, and errors that name the template and the field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from langchain_emafusion.synthesis import (
    SeedTemplateError,
    expand_templates,
    load_seed_templates,
    starter_seeds_dir,
)

STARTER = load_seed_templates()


def write_seeds(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
templates:
  - id: order-total
    task: arithmetic
    variants: 5
    prompt: "{qty} items at ${price} each. Total?"
    slots:
      qty: {range: [2, 40]}
      price: {values: [10, 20]}
    answer_type: number
    reference: "qty * price"
    scoring: {checker: numeric}
"""


def test_starter_set_covers_the_families_and_every_template_expands() -> None:
    families = {template.family_name for template in STARTER}
    assert {
        "arithmetic",
        "date_arithmetic",
        "extraction",
        "classification",
        "conversion",
        "summarization",
        "code",
        "instructions",
        "multi_part",
    } <= families
    assert {template.difficulty for template in STARTER} == {"easy", "medium", "hard"}
    prompts = expand_templates(STARTER, seed=0)
    assert len(prompts) == sum(template.variants for template in STARTER)
    assert len({prompt.prompt for prompt in prompts}) == len(prompts)
    for prompt in prompts:
        for check in prompt.checks:
            if check.checker in {"exact", "normalized", "numeric", "json_fields"}:
                assert check.reference is not None, prompt.prompt_id
    readme = (starter_seeds_dir() / "README.md").read_text(encoding="utf-8")
    assert all(template.id in readme for template in STARTER)


def test_multi_part_prompts_carry_each_part_with_its_reference() -> None:
    prompts = [p for p in expand_templates(STARTER, seed=0) if p.task == "multi_part"]
    assert prompts
    for prompt in prompts:
        assert (
            prompt.part_prompts and prompt.part_tasks and len(prompt.part_prompts) == len(prompt.checks) >= 2
        )
        for number, part in enumerate(prompt.part_prompts, start=1):
            assert f"{number}. {part}" in prompt.prompt
        references = json.loads(prompt.reference or "")
        assert len(references) == len(prompt.checks) and all(ref is not None for ref in references)


def test_expansion_is_deterministic_round_robin_and_prefix_stable() -> None:
    first = expand_templates(STARTER, n=60, seed=7)
    assert [p.model_dump() for p in first] == [
        p.model_dump() for p in expand_templates(STARTER, n=60, seed=7)
    ]
    longer = expand_templates(STARTER, n=90, seed=7)
    assert [p.prompt for p in longer[:60]] == [p.prompt for p in first]
    assert [p.template for p in first[: len(STARTER)]] == [t.id for t in STARTER]
    assert Counter(p.template for p in first).most_common(1)[0][1] <= 3
    other_seed = expand_templates(STARTER, n=60, seed=8)
    assert sum(a.prompt != b.prompt for a, b in zip(first, other_seed, strict=True)) > 40
    assert first[0].prompt_id == f"{STARTER[0].id}/0000"


def test_minimal_template_reference_is_computed_from_the_slots(tmp_path: Path) -> None:
    prompts = expand_templates(load_seed_templates([write_seeds(tmp_path, MINIMAL)]), seed=1)
    assert len(prompts) == 5
    for prompt in prompts:
        assert prompt.reference == str(prompt.slots["qty"] * prompt.slots["price"])
        assert prompt.prompt == f"{prompt.slots['qty']} items at ${prompt.slots['price']} each. Total?"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('prompt: "{qty} items', 'prompt: "{qtty} items'), "'order-total'.*prompt.*unknown slot.*qtty"),
        (("checker: numeric", "checker: fuzzy"), "'order-total'.*field 'scoring.checker'"),
        (("checker: numeric", "checker: regex"), "'order-total'.*needs field.*pattern"),
        (('reference: "qty * price"', 'reference: "qty * cost"'), "'order-total'.*reference.*cost"),
        (("range: [2, 40]", "range: [40, 2]"), "'order-total'.*slots.qty.*range"),
        (("range: [2, 40]", "range: [2, 40], values: [1]"), "'order-total'.*slots.qty.*exactly one"),
        (("variants: 5", "variants: 0"), "'order-total'.*field 'variants'"),
        (("task: arithmetic", "task: multi_part"), "'order-total'.*multi_part.*parts"),
        (("answer_type: number", "answer_type: number\n    colour: red"), "'order-total'.*field 'colour'"),
    ],
)
def test_invalid_template_errors_name_template_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in MINIMAL
    with pytest.raises(SeedTemplateError, match=message):
        load_seed_templates([write_seeds(tmp_path, MINIMAL.replace(*change))])


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(SeedTemplateError, match="repeats"):
        load_seed_templates([write_seeds(tmp_path, MINIMAL + MINIMAL.split("templates:")[1])])
    with pytest.raises(SeedTemplateError, match="not valid YAML"):
        load_seed_templates([write_seeds(tmp_path, "templates: [")])
    with pytest.raises(SeedTemplateError, match="'templates' list"):
        load_seed_templates([write_seeds(tmp_path, "prompts: []")])
    with pytest.raises(SeedTemplateError, match="no such seed file"):
        load_seed_templates([tmp_path / "missing.yaml"])


def test_too_many_prompts_and_too_small_slot_space(tmp_path: Path) -> None:
    templates = load_seed_templates([write_seeds(tmp_path, MINIMAL)])
    with pytest.raises(SeedTemplateError, match="n=6 exceeds the 5 prompts"):
        expand_templates(templates, n=6)
    tiny = MINIMAL.replace("range: [2, 40]", "values: [2]").replace(
        "values: [10, 20]", "values: [10, 20, 30]"
    )
    with pytest.raises(SeedTemplateError, match="'order-total'.*distinct prompts"):
        expand_templates(load_seed_templates([write_seeds(tmp_path, tiny)]))


def test_paraphrase_choice_follows_the_seed_and_fraction(tmp_path: Path) -> None:
    text = MINIMAL.replace("variants: 5", "variants: 40\n    paraphrase: {fraction: 0.5}")
    templates = load_seed_templates([write_seeds(tmp_path, text)])
    chosen = [p.paraphrase for p in expand_templates(templates, seed=3)]
    assert chosen == [p.paraphrase for p in expand_templates(templates, seed=3)]
    assert 8 <= sum(chosen) <= 32
