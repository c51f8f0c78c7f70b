"""Converted shared data reproduces the figures of ../shared/data/README.md (fails if the data is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_emafusion.evaluation.baselines.simple import SingleModelPolicy
from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.converters import (
    LLMROUTER_OUTPUT_TOKENS,
    convert_llmrouter,
    convert_routellm_gsm8k,
    convert_routellm_mmlu,
    default_shared_dir,
)
from langchain_emafusion.evaluation.errors import SharedDataNotFoundError
from langchain_emafusion.evaluation.figures import best_single_model, model_figures, oracle_figures
from langchain_emafusion.evaluation.replay import replay
from langchain_emafusion.evaluation.table import OutcomeTable, split_outcomes

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.fixture(scope="module")
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "data"


@pytest.fixture(scope="module")
def gsm8k(data_dir: Path) -> OutcomeTable:
    return OutcomeTable(convert_routellm_gsm8k(data_dir))


def test_llmrouter_matches_readme(data_dir: Path) -> None:
    table = OutcomeTable(convert_llmrouter(data_dir, split="all"))
    assert table.n_prompts == 6108 and len(table.models) == 9
    models = model_figures(table)
    assert round(models["llama-3.1-nemotron-51b-instruct"]["accuracy"], 4) == 0.6165
    assert round(models["llama-3.1-8b-instruct"]["accuracy"], 4) == 0.5563
    assert round(models["gemma-2-9b-it"]["accuracy"], 4) == 0.5277
    assert best_single_model(models) == "llama-3.1-nemotron-51b-instruct"
    assert round(oracle_figures(table)["accuracy"], 4) == 0.7969
    # Every question found its task; costs follow the $/Mtok ratio (0.9 vs 0.1, same token estimate).
    assert set(table.tasks) == set(LLMROUTER_OUTPUT_TOKENS)
    nemotron, gemma = (
        table.models.index("llama-3.1-nemotron-51b-instruct"),
        table.models.index("gemma-2-9b-it"),
    )
    assert table.costs[:, nemotron] == pytest.approx(9 * table.costs[:, gemma])
    row = table.row(0, gemma)
    assert row.input_tokens == -(-len(row.prompt) // 4)
    assert row.cost_usd == pytest.approx((row.input_tokens + row.output_tokens) * 0.1 / 1e6)


def test_llmrouter_keeps_its_own_split(data_dir: Path) -> None:
    train = OutcomeTable(convert_llmrouter(data_dir, split="train"))
    test = OutcomeTable(convert_llmrouter(data_dir, split="test"))
    assert (train.n_prompts, test.n_prompts) == (5608, 500)


def test_mmlu_matches_readme(data_dir: Path) -> None:
    table = OutcomeTable(convert_routellm_mmlu(data_dir))
    assert table.n_prompts == 14042 and len(set(table.tasks)) == 57
    models = model_figures(table)
    assert round(models[GPT4]["accuracy"], 4) == 0.8058
    assert round(models[MIXTRAL]["accuracy"], 4) == 0.6808
    assert round(oracle_figures(table)["accuracy"], 4) == 0.8586
    # List prices: gpt-4 $10 in / $30 out, Mixtral $0.6 per Mtok.
    assert replay_cards(table)[table.models.index(GPT4)].input_price == pytest.approx(10.0)


def test_gsm8k_matches_readme_and_extracts_answers(gsm8k: OutcomeTable) -> None:
    assert gsm8k.n_prompts == 1319
    models = model_figures(gsm8k)
    assert round(models[GPT4]["accuracy"], 4) == 0.8567
    assert round(models[MIXTRAL]["accuracy"], 4) == 0.6384
    assert round(oracle_figures(gsm8k)["accuracy"], 4) == 0.9287
    assert all(answer is not None for answers in gsm8k.answers for answer in answers)
    agree = sum(answers[0] == answers[1] for answers in gsm8k.answers) / gsm8k.n_prompts
    assert 0.55 <= agree <= 0.65  # the README reports 58% with its own extraction
    # The reference is a correct model's final answer wherever one is right and extraction is consistent.
    with_reference = sum(reference is not None for reference in gsm8k.references) / gsm8k.n_prompts
    assert 0.9 <= with_reference <= 0.9287
    assert gsm8k.row(0, 0).answer == "18" and gsm8k.references[0] == "18"


def test_replayed_single_models_equal_table_figures(gsm8k: OutcomeTable) -> None:
    _, test = split_outcomes(gsm8k, test_fraction=0.2, seed=0)
    figures = model_figures(test)
    for model in test.models:
        run = replay(SingleModelPolicy(model), test, replay_cards(test)).settings[0]
        assert run.accuracy == figures[model]["accuracy"]
        assert run.mean_cost_usd == pytest.approx(figures[model]["cost_usd"])


def test_missing_data_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SharedDataNotFoundError, match="EMAFUSION_SHARED_DIR"):
        convert_routellm_gsm8k(tmp_path)
    monkeypatch.setenv("EMAFUSION_SHARED_DIR", str(tmp_path / "elsewhere"))
    assert default_shared_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("EMAFUSION_SHARED_DIR")
    repo_root = Path(__file__).resolve().parents[3]
    assert default_shared_dir() == repo_root.parent / "shared"  # CI lays shared/ beside the checkout
