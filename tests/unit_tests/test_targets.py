"""Targets instead of knobs: the saved out-of-fold curve, FusionChatModel(target_accuracy=...), `emafusion calibrate`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.cli.app import app
from langchain_emafusion.errors import InvalidInputError
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable, write_outcomes
from langchain_emafusion.evaluation.training import train_policy
from langchain_emafusion.routing.targets import CalibrationPoint, choose_knob, load_calibration
from langchain_emafusion.tier1.features import FeatureConfig
from langchain_emafusion.tier1.predictor import TrainingConfig
from langchain_emafusion.tier1.selector import KNOB_SETTINGS
from tests.unit_tests.fakes import ScriptedChatModel

LEXICAL = FeatureConfig(use_embeddings=False, ngram_buckets=128)
FAST = TrainingConfig(n_members=1, max_epochs=60, hidden=32, model_dim=8)
CHEAP_USD, BIG_USD = 1e-6, 1e-5


def easy_hard_table(n: int, offset: int = 0) -> OutcomeTable:
    """`cheap` is right on the easy half only, `big` on every prompt at ten times the price."""
    rows = []
    for i in range(offset, offset + n):
        easy = i % 2 == 0
        prompt = f"easy greeting {i}: say hello" if easy else f"hard proof {i}: prove the lemma rigorously"
        for model, cost, right in (("cheap", CHEAP_USD, easy), ("big", BIG_USD, True)):
            rows.append(
                OutcomeRow(
                    prompt_id=f"p{i}",
                    prompt=prompt,
                    model=model,
                    score=1.0 if right else 0.0,
                    cost_usd=cost,
                    input_tokens=20,
                    output_tokens=30,
                )
            )
    return OutcomeTable(rows)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("targets")
    source = write_outcomes(easy_hard_table(160), folder / "train.jsonl")
    train_policy(source, folder / "policy", seed=0, features=LEXICAL, training=FAST)
    return folder / "policy"


def pool() -> ModelPool:
    # Card prices consistent with the table: 50 tokens at 2e-8 and 2e-7 $/token.
    return ModelPool(
        [
            ModelCard(
                name="cheap", model=ScriptedChatModel(reply="cheap"), input_price=0.02, output_price=0.02
            ),
            ModelCard(name="big", model=ScriptedChatModel(reply="big"), input_price=0.2, output_price=0.2),
        ]
    )


CURVE = [
    CalibrationPoint(0.0, 0.98, 1e-5),
    CalibrationPoint(0.1, 0.97, 6e-6),
    CalibrationPoint(1.0, 0.90, 3e-6),
    CalibrationPoint(10.0, 0.50, 1e-6),
]


def test_choose_knob_reads_either_target_off_the_curve() -> None:
    assert choose_knob(CURVE, target_accuracy=0.95).knob == 0.1  # the cheapest reaching 0.95
    assert choose_knob(CURVE, target_accuracy=0.9).knob == 1.0
    within = choose_knob(CURVE, max_mean_cost_usd=5e-6)
    assert (within.knob, within.met, within.expected_accuracy) == (1.0, True, 0.90)
    unreachable = choose_knob(CURVE, target_accuracy=0.99)
    assert not unreachable.met and unreachable.knob == 0.0  # the most accurate setting
    too_cheap = choose_knob(CURVE, max_mean_cost_usd=1e-7)
    assert not too_cheap.met and too_cheap.knob == 10.0  # the cheapest setting
    assert choose_knob(CURVE, target_accuracy=0.9).metadata()["target"] == "accuracy >= 0.9"
    with pytest.raises(InvalidInputError, match="exactly one"):
        choose_knob(CURVE)
    with pytest.raises(InvalidInputError, match="exactly one"):
        choose_knob(CURVE, target_accuracy=0.9, max_mean_cost_usd=1.0)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        choose_knob(CURVE, target_accuracy=1.5)
    with pytest.raises(InvalidInputError, match="empty"):
        choose_knob([], target_accuracy=0.5)


def test_train_saves_the_systems_out_of_fold_curve(policy: Path) -> None:
    curve, source = load_calibration(policy)
    assert [p.knob for p in curve] == sorted(KNOB_SETTINGS)
    assert "out-of-fold" in source and "training prompts" in source
    # Knob 0 buys the best accuracy (big everywhere); the largest knob the cheapest member everywhere; between
    # them the router sends the easy half to `cheap` at about the same accuracy.
    assert curve[0].accuracy >= 0.95 and curve[0].mean_cost_usd == pytest.approx(BIG_USD, rel=0.1)
    assert curve[-1].mean_cost_usd == pytest.approx(CHEAP_USD, rel=0.1) and curve[-1].accuracy < 0.6
    routed = [p for p in curve if p.accuracy >= 0.95 and p.mean_cost_usd < 0.75 * BIG_USD]
    assert routed, curve


def test_target_accuracy_picks_the_knob_and_reports_it(policy: Path) -> None:
    llm = FusionChatModel(pool=pool(), router=str(policy), target_accuracy=0.95, decompose=False)
    curve, source = load_calibration(policy)
    expected = choose_knob(curve, target_accuracy=0.95, source=source)
    assert llm.target == expected and expected.met and expected.expected_cost_usd < 0.75 * BIG_USD
    easy = llm.invoke("easy greeting 9001: say hello")
    fusion = easy.response_metadata["fusion"]
    assert fusion["target"]["quality_cost_tradeoff"] == expected.knob
    assert fusion["target"]["met"] is True and fusion["target"]["target"] == "accuracy >= 0.95"
    assert fusion["router_details"]["quality_cost_tradeoff"] == expected.knob
    assert fusion["models"] == ["cheap"]
    assert llm.invoke("hard proof 9003: prove the lemma rigorously").content == "big"
    # A per-call knob still wins over the target, and then the target is not claimed.
    pinned = llm.invoke("hard proof 9005: prove the lemma rigorously", quality_cost_tradeoff=1000.0)
    assert pinned.content == "cheap" and "target" not in pinned.response_metadata["fusion"]


def test_max_mean_cost_picks_the_most_accurate_affordable_knob(policy: Path) -> None:
    llm = FusionChatModel(pool=pool(), router=policy, max_mean_cost_usd=1.2 * CHEAP_USD, decompose=False)
    target = llm.target
    assert target is not None and target.met and target.expected_cost_usd <= 1.2 * CHEAP_USD
    assert llm.invoke("hard proof 9007: prove the lemma rigorously").content == "cheap"


def test_an_unreachable_target_warns_and_says_so(policy: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = FusionChatModel(pool=pool(), router=policy, max_mean_cost_usd=0.0, decompose=False)
    assert any("no knob setting meets" in str(w.message) for w in caught)
    assert llm.target is not None and not llm.target.met
    assert llm.invoke("easy greeting 9009: say hello").response_metadata["fusion"]["target"]["met"] is False


def test_targets_need_a_calibrated_router_and_exclude_each_other(policy: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="emafusion train"):
        FusionChatModel(pool=pool(), router="cheapest", target_accuracy=0.9)
    with pytest.raises(InvalidInputError, match="at most one"):
        FusionChatModel(pool=pool(), router=policy, target_accuracy=0.9, quality_cost_tradeoff=0.1)
    with pytest.raises(InvalidInputError, match="at most one"):
        FusionChatModel(pool=pool(), router=policy, target_accuracy=0.9, max_mean_cost_usd=1.0)
    # A policy trained before curves were saved: a clear error that says to retrain.
    old = tmp_path / "old-policy"
    old.mkdir()
    for file in policy.iterdir():
        if file.is_file():
            (old / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["calibration"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match="retrain"):
        FusionChatModel(pool=pool(), router=old, target_accuracy=0.9)
    # Without a target nothing is read and the router's own default knob applies.
    plain = FusionChatModel(pool=pool(), router=old, decompose=False)
    assert plain.target is None and "target" not in plain.invoke("say hello").response_metadata["fusion"]


def test_calibrate_cli_prints_the_curve_and_the_choice(policy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", "--policy", str(policy), "--target-accuracy", "0.95"])
    assert result.exit_code == 0, result.output
    assert "per 1,000 requests" in result.output and "<- chosen" in result.output
    assert "target accuracy >= 0.95: met" in result.output
    as_json = runner.invoke(
        app, ["calibrate", "--policy", str(policy), "--json", "--max-mean-cost-usd", "5e-6"]
    )
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert len(payload["curve"]) == len(KNOB_SETTINGS) and payload["choice"]["met"] is True
    assert payload["choice"]["expected_cost_usd_per_request"] <= 5e-6
    # On a reference table the policy is replayed there instead.
    reference = write_outcomes(easy_hard_table(40, offset=5000), tmp_path / "reference.jsonl")
    replayed = runner.invoke(
        app,
        [
            "calibrate",
            "--policy",
            str(policy),
            "--outcomes",
            str(reference),
            "--json",
            "--no-embedding-cache",
        ],
    )
    assert replayed.exit_code == 0, replayed.output
    replayed_payload = json.loads(replayed.stdout)
    assert replayed_payload["source"].startswith("replay of the policy on reference.jsonl (40 prompts)")
    assert replayed_payload["curve"][0]["accuracy"] == 1.0
    both = runner.invoke(
        app, ["calibrate", "--policy", str(policy), "--target-accuracy", "0.9", "--max-mean-cost-usd", "1"]
    )
    assert both.exit_code == 2 and "at most one" in both.output
