"""Tier 1's router blend: the simple families, the out-of-fold choice among blends, and the served blend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.figures import build_report
from langchain_emafusion.evaluation.replay import replay
from langchain_emafusion.tier1.blend import ClusterQuality, RidgeQuality, RouterBlend
from langchain_emafusion.tier1.policy import Tier1Policy
from langchain_emafusion.tier1.predictor import Tier1Predictor
from langchain_emafusion.tier1.router_choice import choose_router, expected_costs, frontier_figures
from langchain_emafusion.tier1.selector import KNOB_SETTINGS

from .test_tier1 import FAST, LEXICAL, table


@pytest.fixture(scope="module")
def predictor() -> Tier1Predictor:
    return Tier1Predictor.fit(table(), training=FAST, features=LEXICAL)


def test_ridge_path_equals_scikit_learn_ridge_on_standardized_features() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)) * np.arange(1, 9)
    y = (rng.random((60, 3)) < 0.5).astype(float)
    fitted = RidgeQuality.fit_path(x, y, (0.5, 30.0))
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    for model in fitted:
        reference = Ridge(alpha=model.alpha).fit(z, y)
        np.testing.assert_allclose(model.coef, reference.coef_, atol=1e-8)
        np.testing.assert_allclose(model.predict(x), np.clip(reference.predict(z), 1e-3, 1 - 1e-3), atol=1e-8)


def test_cluster_scores_are_shrunk_cluster_means() -> None:
    keys = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 4, dtype=np.float32)
    scores = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 4)
    model = ClusterQuality.fit(keys, scores, clusters=2, seed=0)
    overall = scores.mean(axis=0)
    predicted = model.predict(np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32))
    np.testing.assert_allclose(predicted[0], (np.array([6.0, 0.0]) + 5 * overall) / (6 + 5))
    np.testing.assert_allclose(predicted[1], (np.array([0.0, 4.0]) + 5 * overall) / (4 + 5))


def test_frontier_figures_are_what_replay_measures(predictor: Tier1Predictor) -> None:
    """The out-of-fold criterion routes exactly as the served selector does under the replay harness."""
    data = table(20, offset=300)
    cards = replay_cards(data)
    rng = np.random.default_rng(1)
    quality = rng.random((data.n_prompts, len(data.models)))
    tokens = rng.integers(5, 120, (data.n_prompts, len(data.models))).astype(float)
    policy = Tier1Policy(predictor)
    for p, prompt in enumerate(data.prompts):
        policy.remember(prompt, quality[p], tokens[p], None)
    report = build_report(data, [replay(policy, data, cards, settings=KNOB_SETTINGS)])
    figures = frontier_figures(
        quality, expected_costs(data.prompts, data.models, cards, tokens), data.scores, data.costs
    )
    assert figures["auc"] == pytest.approx(report["policies"]["tier1"]["auc_normalized"])
    assert figures["accuracy_at_best_single_cost"] == pytest.approx(
        report["policies"]["tier1"]["accuracy_at_best_single_cost"]
    )


def _choose(predictor: Tier1Predictor, network_quality: np.ndarray):  # type: ignore[no-untyped-def]
    data = table()
    features = predictor.featurizer.transform(list(data.prompts))
    folds = np.arange(data.n_prompts) % 3
    return choose_router(
        data,
        features=features,
        keys=predictor.similarity_keys(features),
        allow_knn=True,
        network_quality=network_quality,
        network_tokens=np.tile(predictor.default_output_tokens, (data.n_prompts, 1)),
        folds=folds,
        cards=replay_cards(data),
    )


def test_choice_is_the_best_blend_and_leans_on_a_network_that_predicts_every_outcome(
    predictor: Tier1Predictor,
) -> None:
    choice = _choose(predictor, table().scores.astype(float))
    families = choice.report["families"]
    assert set(families) == {"network", "ridge", "knn", "cluster"}
    # The grid holds every pure family, so the chosen blend is at least as good as each of them out of fold.
    assert choice.report["out_of_fold"]["auc"] >= max(f["out_of_fold"]["auc"] for f in families.values())
    weights = choice.report["chosen"]
    assert max(weights, key=weights.__getitem__) == "network" and sum(weights.values()) == pytest.approx(1.0)
    # Its out-of-fold predictions are that blend of the families' (the network's here is the scores).
    assert choice.out_of_fold_quality.shape == table().scores.shape


def test_choice_leaves_a_network_that_knows_nothing(predictor: Tier1Predictor) -> None:
    data = table()
    choice = _choose(predictor, np.full(data.scores.shape, 0.5))
    assert choice.report["chosen"].get("network", 0.0) < 1.0
    families = choice.report["families"]
    assert choice.report["out_of_fold"]["auc"] > families["network"]["out_of_fold"]["auc"] + 0.05
    # Each family's hyper-parameter is the one with the lowest out-of-fold Brier score.
    for name in ("ridge", "knn", "cluster"):
        briers = families[name]["out_of_fold_brier"]
        assert str(families[name]["chosen"]) == min(briers, key=briers.__getitem__)


def test_blend_is_served_saved_and_loaded(predictor: Tier1Predictor, tmp_path: Path) -> None:
    data = table()
    features = predictor.featurizer.transform(list(data.prompts))
    keys = predictor.similarity_keys(features)
    ridge = RidgeQuality.fit_path(features, data.scores, (10.0,))[0]
    cluster = ClusterQuality.fit(keys, data.scores, clusters=4, seed=0)
    probe = ["compute 7 plus 9", "a haiku on snow please"]
    network = predictor.predict(probe).quality
    blend = RouterBlend({"network": 0.25, "ridge": 0.25, "knn": 0.25, "cluster": 0.25}, 3, ridge, cluster, 5)
    predictor.use_blend(blend)
    try:
        served = predictor.predict(probe).quality
        assert not np.allclose(served, network)
        predictor.save(tmp_path / "p")
        loaded = Tier1Predictor.load(tmp_path / "p")
        assert loaded.blend is not None and loaded.blend.weights == blend.weights
        np.testing.assert_allclose(loaded.predict(probe).quality, served, atol=1e-4)
        # Dropping a model drops its column from every family.
        smaller = predictor.without_model("poet")
        np.testing.assert_allclose(smaller.predict(probe).quality, served[:, [0, 2]], atol=1e-6)
        # An onboarded model is not in the blend: its column is the network's alone.
        predictor.onboard("newcomer", probe, [1.0, 0.0])
        grown = predictor.predict(probe).quality
        np.testing.assert_allclose(grown[:, :3], served, atol=1e-6)
        assert grown.shape == (2, 4)
    finally:
        predictor.use_blend(None)


def test_bad_blends_are_refused(predictor: Tier1Predictor) -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        RouterBlend({"network": 0.5, "knn": 0.4}, 3, knn_k=5)
    with pytest.raises(ValueError, match="unknown router families"):
        RouterBlend({"forest": 1.0}, 3)
    with pytest.raises(ValueError, match="not fitted"):
        RouterBlend({"network": 0.5, "ridge": 0.5}, 3)
    with pytest.raises(ValueError, match="has 2 models"):
        predictor.use_blend(RouterBlend({"network": 0.5, "knn": 0.5}, 2, knn_k=5))
