"""Baselines on a small learnable table: specialists are cheap, the generalist is right on everything."""

from __future__ import annotations

import pytest

from langchain_emafusion.evaluation.baselines import baseline_names, fit_baselines, make_baseline
from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.evaluate import evaluate_policies
from langchain_emafusion.routing.encoder import PromptEncoder

from .helpers import specialist_table


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    train = specialist_table(30)
    test = specialist_table(10, offset=100, with_answers=True)
    policies, skipped = fit_baselines(train, encoder=PromptEncoder(), seed=0)
    assert skipped == ["majority-vote"]  # the train table has no answer keys
    return evaluate_policies(test, policies, cards=replay_cards(train))


def test_every_baseline_sweeps_at_least_ten_settings(report: dict[str, object]) -> None:
    policies = report["policies"]
    assert isinstance(policies, dict)
    assert set(policies) == {"random", "knn-router", "linear-router", "cascade"}
    for name, figures in policies.items():
        assert len(figures["frontier"]) >= 10, name


@pytest.mark.parametrize("name", ["knn-router", "linear-router"])
def test_embedding_routers_find_the_cheap_specialists(report: dict[str, object], name: str) -> None:
    figures = report["policies"][name]  # type: ignore[index]
    # Routing math to math-small and history to history-small is always right at cost 1 (large costs 10).
    assert figures["accuracy_at_best_single_cost"] == 1.0
    assert figures["cost_ratio_to_best_single_accuracy"] <= 0.2
    assert figures["auc_normalized"] > 0.9
    # Huge lambda: large (10x the cost) is never worth it, and among the two equally cheap specialists the
    # predicted quality still picks the right one.
    last = figures["frontier"][-1]
    assert (last["cost_usd"], last["accuracy"]) == (1.0, 1.0)


def test_random_and_cascade_span_cheap_to_expensive(report: dict[str, object]) -> None:
    policies = report["policies"]
    assert isinstance(policies, dict)
    random_frontier = policies["random"]["frontier"]
    assert (random_frontier[0]["cost_usd"], random_frontier[-1]["cost_usd"]) == (1.0, 10.0)
    cascade = policies["cascade"]["frontier"]
    assert cascade[0]["calls_per_prompt"] == 1.0  # tau = 0 never escalates
    assert cascade[-1]["calls_per_prompt"] == 2.0 and cascade[-1]["accuracy"] == 1.0  # tau = 1 always does
    assert cascade[-1]["cost_usd"] == 11.0
    assert "latency_p50_s" in cascade[-1]


def test_majority_vote_on_answer_keys() -> None:
    table = specialist_table(4, with_answers=True)
    vote = make_baseline("majority-vote")
    vote.fit(table)
    report = evaluate_policies(table, [vote])
    frontier = report["policies"]["majority-vote"]["frontier"]
    assert len(frontier) >= 10
    # Two of three models answer "right" on every prompt; every call is billed (1 + 1 + 10).
    assert all(point["accuracy"] == 1.0 and point["cost_usd"] == 12.0 for point in frontier)
    assert all(point["calls_per_prompt"] == 3.0 for point in frontier)


def test_registry() -> None:
    assert baseline_names() == ["random", "knn-router", "linear-router", "majority-vote", "cascade"]
    assert make_baseline("single:large").name == "single:large"
    with pytest.raises(KeyError, match="unknown baseline 'nope'"):
        make_baseline("nope")


def test_report_schema_has_the_stable_keys(report: dict[str, object]) -> None:
    import json

    again = json.loads(json.dumps(report))  # JSON-serializable as is
    assert {"n_prompts", "models", "best_single_model", "oracle", "policies"} <= set(again)
    assert again["n_prompts"] == 20 and again["best_single_model"] == "large"
    for figures in again["models"].values():
        assert {"accuracy", "cost_usd"} <= set(figures)
    assert set(again["oracle"]) == {"accuracy", "cost_usd"}
    assert again["oracle"] == {"accuracy": 1.0, "cost_usd": 1.0}
    for figures in again["policies"].values():
        assert {
            "frontier",
            "accuracy_at_best_single_cost",
            "cost_ratio_to_best_single_accuracy",
            "auc_normalized",
        } <= set(figures)
        for point in figures["frontier"]:
            assert {"setting", "accuracy", "cost_usd", "calls_per_prompt"} <= set(point)
            assert all(isinstance(point[key], float) for key in ("setting", "accuracy", "cost_usd"))


def test_embedding_routers_choose_their_own_hyperparameter_by_cross_validation() -> None:
    import numpy as np

    from langchain_emafusion.evaluation.baselines.common import brier, cv_folds
    from langchain_emafusion.evaluation.baselines.knn import KnnRouterPolicy
    from langchain_emafusion.evaluation.baselines.linear import LinearRouterPolicy

    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(90, 6))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    # Model 0 is right where the first coordinate is positive: a smooth rule a large neighbourhood blurs less
    # than it averages noise away.
    scores = np.stack([(embeddings[:, 0] > 0).astype(float), np.full(90, 0.5)], axis=1)
    knn = KnnRouterPolicy(PromptEncoder(), k_grid=(1, 5, 25, 80))
    knn.fit_quality(embeddings, scores)
    assert set(knn.validation) == {"1", "5", "25", "80"}
    assert knn.k == int(min(knn.validation, key=knn.validation.__getitem__))
    # The recorded validation figure is the out-of-fold Brier score of that k.
    folds = cv_folds(90, 0)
    predicted = np.zeros_like(scores)
    for fold in range(3):
        held = folds == fold
        alone = KnnRouterPolicy(PromptEncoder(), k=knn.k)
        alone.fit_quality(embeddings[~held], scores[~held])
        predicted[held] = alone.predict_quality(embeddings[held])
    assert knn.validation[str(knn.k)] == pytest.approx(brier(predicted, scores))
    assert KnnRouterPolicy(PromptEncoder(), k=7).k_grid == (7,)

    linear = LinearRouterPolicy(PromptEncoder())
    linear.fit_quality(embeddings, scores)
    assert set(linear.validation) == {"0.1", "1.0", "10.0"}
    assert str(linear.regularization) == min(linear.validation, key=linear.validation.__getitem__)


def test_report_without_repeats_is_the_same_runs_on_the_fresh_prompts() -> None:
    from langchain_emafusion.evaluation.table import OutcomeTable

    train = specialist_table(30)
    fresh = specialist_table(10, offset=100)
    repeated_ids = set(train.prompt_ids[:8])
    repeats = [row for row in train.rows if row.prompt_id in repeated_ids]
    test = OutcomeTable([*fresh.rows, *repeats])
    policies, _ = fit_baselines(train, names=["random", "knn-router"], encoder=PromptEncoder(), seed=0)
    report = evaluate_policies(test, policies, cards=replay_cards(train), train_prompts=train.prompts)
    assert report["n_test_prompts_also_in_train"] == 8
    alone = evaluate_policies(fresh, policies, cards=replay_cards(train))
    without = report["without_repeats"]
    assert without["n_prompts"] == fresh.n_prompts
    for name in ("random", "knn-router"):
        assert without["policies"][name]["auc_normalized"] == pytest.approx(
            alone["policies"][name]["auc_normalized"]
        )
    # No repeats: no second report.
    assert "without_repeats" not in evaluate_policies(
        fresh, policies, cards=replay_cards(train), train_prompts=train.prompts
    )
