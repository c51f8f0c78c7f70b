from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool, NoEligibleModelError
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable
from langchain_emafusion.routing.encoder import PromptEncoder
from langchain_emafusion.tier1.calibration import calibrate
from langchain_emafusion.tier1.features import FeatureConfig, PromptFeaturizer
from langchain_emafusion.tier1.predictor import PredictorFileError, Tier1Predictor, TrainingConfig
from langchain_emafusion.tier1.router import Tier1Router
from langchain_emafusion.tier1.selector import SelectionCaps, select_models
from tests.unit_tests.fakes import ScriptedChatModel

LEXICAL = FeatureConfig(use_embeddings=False, ngram_buckets=256)
FAST = TrainingConfig(n_members=2, max_epochs=60, patience=10, seed=3)
MATH = ["compute {a} plus {b}", "what is {a} times {b}", "solve {a} minus {b} quickly", "add {a} and {b}"]
POEM = ["write a poem about {w}", "a haiku on {w} please", "compose verses about {w}", "poem: {w} at dusk"]
WORDS = ["rain", "sea", "autumn", "love", "city", "snow", "fire", "moon", "trees", "silence"]


def prompts(kind: str, n: int, offset: int = 0) -> list[str]:
    templates = MATH if kind == "math" else POEM
    return [
        templates[i % 4].format(
            a=i + offset, b=3 * i + 1, w=WORDS[(i + offset) % len(WORDS)] + f" {i + offset}"
        )
        for i in range(n)
    ]


def table(n: int = 80, offset: int = 0) -> OutcomeTable:
    """Model `mathy` is right on math only, `poet` on poems only, `cheap` on nothing but costs little."""
    rows = []
    for kind in ("math", "poem"):
        for i, prompt in enumerate(prompts(kind, n, offset)):
            pid = f"{kind}-{offset + i}"
            for model, good, price, out in (
                ("mathy", kind == "math", 2.0, 20),
                ("poet", kind == "poem", 2.0, 80),
                ("cheap", False, 0.1, 10),
            ):
                rows.append(
                    OutcomeRow(
                        prompt_id=pid,
                        prompt=prompt,
                        model=model,
                        score=1.0 if good else 0.0,
                        task=kind,
                        cost_usd=(40 + out) * price / 1e6,
                        input_tokens=40,
                        output_tokens=out,
                    )
                )
    return OutcomeTable(rows)


@pytest.fixture(scope="module")
def predictor() -> Tier1Predictor:
    return Tier1Predictor.fit(table(), training=FAST, features=LEXICAL)


def test_features_see_the_tail_behind_a_long_shared_prefix() -> None:
    prefix = "You are a careful assistant for ACME Corp. Follow the policy below. " + " ".join(
        f"Rule {i}: be precise, cite sources and keep answers short." for i in range(200)
    )  # ~2,000 tokens shared by every prompt
    tails = ["Question: what is 17 times 23?", "Question: write a limerick about penguins."]
    full = [f"{prefix}\n\n{t}" for t in tails]
    encoder = PromptEncoder.shared()
    whole = encoder.encode(full)
    # MiniLM truncates at 256 word pieces: on the whole prompt both embeddings are the same.
    assert float(whole[0] @ whole[1]) > 0.999
    features = PromptFeaturizer(FeatureConfig(), encoder).transform(full)
    end_a, end_b = features[0, 384:768], features[1, 384:768]  # default segments: head, end
    assert float(end_a @ end_b) < 0.6
    direct = encoder.encode(tails)
    assert float(direct[0] @ direct[1]) < 0.6


def test_predictor_learns_which_model_suits_which_prompt(predictor: Tier1Predictor) -> None:
    held_out = prompts("math", 10, offset=500) + prompts("poem", 10, offset=500)
    p = predictor.predict(held_out)
    mathy, poet = predictor.models.index("mathy"), predictor.models.index("poet")
    assert (p.quality[:10, mathy] > p.quality[:10, poet]).all()
    assert (p.quality[10:, poet] > p.quality[10:, mathy]).all()
    assert [p.task(i) for i in (0, 15)] == ["math", "poem"]
    assert p.output_tokens[15, poet] > p.output_tokens[15, mathy]  # poet writes longer answers


def test_training_is_deterministic_and_save_load_round_trips(
    predictor: Tier1Predictor, tmp_path: Path
) -> None:
    again = Tier1Predictor.fit(table(), training=FAST, features=LEXICAL)
    sample = prompts("poem", 3, offset=900)
    np.testing.assert_array_equal(again.predict(sample).quality, predictor.predict(sample).quality)
    predictor.save(tmp_path)
    loaded = Tier1Predictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(sample).quality, predictor.predict(sample).quality, rtol=1e-6)
    assert loaded.models == predictor.models and loaded.task_labels == ["math", "poem"]


def test_corrupted_files_give_typed_errors(predictor: Tier1Predictor, tmp_path: Path) -> None:
    with pytest.raises(PredictorFileError, match="missing"):
        Tier1Predictor.load(tmp_path / "nothing")
    predictor.save(tmp_path)
    (tmp_path / "tier1.safetensors").write_bytes(b"garbage")
    with pytest.raises(PredictorFileError, match="corrupted"):
        Tier1Predictor.load(tmp_path)
    predictor.save(tmp_path)
    config = json.loads((tmp_path / "tier1.json").read_text())
    config["models"].append("ghost")
    (tmp_path / "tier1.json").write_text(json.dumps(config))
    with pytest.raises(PredictorFileError, match="does not match"):
        Tier1Predictor.load(tmp_path)
    (tmp_path / "tier1.json").write_text("{not json")
    with pytest.raises(PredictorFileError, match="corrupted"):
        Tier1Predictor.load(tmp_path)


def test_onboarding_adds_a_model_without_touching_the_others(predictor: Tier1Predictor) -> None:
    base = predictor.without_model("poet")
    sample = prompts("math", 5, offset=700) + prompts("poem", 5, offset=700)
    before = base.predict(sample).quality.copy()
    probes = prompts("math", 30, offset=300) + prompts("poem", 30, offset=300)
    base.onboard("poet", probes, [0.0] * 30 + [1.0] * 30, output_tokens=[80] * 60)
    after = base.predict(sample)
    np.testing.assert_allclose(after.quality[:, :2], before, rtol=1e-6)
    poet = after.models.index("poet")
    assert after.quality[5:, poet].min() > after.quality[:5, poet].max()
    assert after.output_tokens[0, poet] == pytest.approx(80, rel=0.05)
    with pytest.raises(ValueError, match="already"):
        base.onboard("poet", probes[:1], [1.0])


def cards() -> list[ModelCard]:
    return [
        ModelCard(name="mathy", model=ScriptedChatModel(reply="42"), input_price=2.0, output_price=2.0),
        ModelCard(name="poet", model=ScriptedChatModel(reply="roses"), input_price=2.0, output_price=2.0),
        ModelCard(name="cheap", model=ScriptedChatModel(reply="meh"), input_price=0.1, output_price=0.1),
    ]


def test_selector_utilities_by_hand() -> None:
    c = cards()
    # expected costs at 100 input tokens: mathy (100+100)*2e-6=4e-4, poet (100+300)*2e-6=8e-4, cheap 1e-5*2=2e-5
    sel = select_models(c, [0.6, 0.9, 0.2], [100, 300, 100], input_tokens=100, knob=0.0)
    assert sel.ranked == ["poet", "mathy", "cheap"]
    # knob 0.5: utilities mathy 0.6-0.25=0.35, poet 0.9-0.5=0.4, cheap 0.2-0.0125=0.1875
    sel = select_models(c, [0.6, 0.9, 0.2], [100, 300, 100], input_tokens=100, knob=0.5)
    assert sel.ranked == ["poet", "mathy", "cheap"] and sel.utility["mathy"] == pytest.approx(0.35)
    sel = select_models(c, [0.6, 0.9, 0.2], [100, 300, 100], input_tokens=100, knob=1.0)
    # knob 1: mathy 0.6-0.5=0.1, poet 0.9-1.0=-0.1, cheap 0.2-0.025=0.175
    assert sel.ranked == ["cheap", "mathy", "poet"]
    capped = select_models(
        c, [0.6, 0.9, 0.2], [100, 300, 100], input_tokens=100, knob=0.0, caps=SelectionCaps(max_cost_usd=5e-4)
    )
    assert capped.ranked == ["mathy", "cheap"] and "poet" in capped.excluded
    with pytest.raises(NoEligibleModelError, match="max_cost_usd"):
        select_models(
            c,
            [0.6, 0.9, 0.2],
            [100, 300, 100],
            input_tokens=100,
            knob=0.0,
            caps=SelectionCaps(max_cost_usd=1e-6),
        )
    with pytest.raises(ValueError):
        select_models(c, [0.6, 0.9, 0.2], [100, 300, 100], input_tokens=100, knob=-1)


def test_calibration_meets_a_cost_or_accuracy_target(predictor: Tier1Predictor) -> None:
    reference = table(n=20, offset=1000)
    replay_cards = [
        ModelCard(name=m, model=ScriptedChatModel(), input_price=p, output_price=p)
        for m, p in (("mathy", 2.0), ("poet", 2.0), ("cheap", 0.1))
    ]
    cheap_target = calibrate(predictor, reference, replay_cards, target_cost_usd=2e-5)
    assert (
        cheap_target.met and cheap_target.expected_cost_usd <= 2e-5 and cheap_target.expected_accuracy == 0.0
    )
    accurate = calibrate(predictor, reference, replay_cards, target_accuracy=1.0)
    assert accurate.met and accurate.expected_accuracy == 1.0
    assert accurate.expected_cost_usd == pytest.approx((20 * 60 * 2e-6 + 20 * 120 * 2e-6) / 40)
    impossible = calibrate(predictor, reference, replay_cards, target_cost_usd=1e-9)
    assert not impossible.met
    with pytest.raises(ValueError, match="exactly one"):
        calibrate(predictor, reference, replay_cards)


def test_fusion_chat_model_routes_with_a_trained_predictor(predictor: Tier1Predictor, tmp_path: Path) -> None:
    predictor.save(tmp_path)
    llm = FusionChatModel(pool=ModelPool(cards()), router=str(tmp_path))
    math_answer = llm.invoke("compute 1234 plus 77")
    poem_answer = llm.invoke("write a poem about the harbour 42")
    assert math_answer.content == "42" and poem_answer.content == "roses"
    fusion = poem_answer.response_metadata["fusion"]
    assert fusion["router"] == "tier1" and fusion["models"] == ["poet"]
    assert fusion["scores"]["poet"] > fusion["scores"]["mathy"]
    assert fusion["router_details"]["quality_cost_tradeoff"] == 0.2
    assert fusion["router_details"]["predicted_task"] == "poem"
    assert FusionChatModel(pool=ModelPool(cards()), router=tmp_path).invoke("add 5 and 9").content == "42"
    router = Tier1Router(predictor, quality_cost_tradeoff=100.0)
    cheap = FusionChatModel(pool=ModelPool(cards()), router=router).invoke("write a poem about snow")
    assert cheap.content == "meh"
    with pytest.raises(PredictorFileError, match="emafusion train"):
        Tier1Router(tmp_path / "missing")


def test_a_repeated_training_prompt_recalls_its_recorded_scores(
    predictor: Tier1Predictor, tmp_path: Path
) -> None:
    seen = table().prompts[0]  # a math prompt: mathy scored 1, poet 0, cheap 0
    without_memory = Tier1Predictor.fit(
        table(),
        training=TrainingConfig(n_members=2, max_epochs=60, patience=10, seed=3, memory_weight=0.0),
        features=LEXICAL,
    )
    # The neighbour term does not depend on the memory weight: only the repeat blend differs.
    assert (without_memory.neighbours, without_memory.neighbour_weight) == (
        predictor.neighbours,
        predictor.neighbour_weight,
    )
    net_only = without_memory.predict([seen]).quality[0]
    recalled = predictor.predict([seen]).quality[0]
    mathy = predictor.models.index("mathy")
    # Same networks (same seed and data), so the difference is the memory: half net, half recorded score.
    np.testing.assert_allclose(recalled, 0.5 * net_only + 0.5 * np.array([1.0, 0.0, 0.0]), atol=1e-6)
    assert recalled[mathy] > net_only[mathy]
    predictor.save(tmp_path)
    np.testing.assert_allclose(Tier1Predictor.load(tmp_path).predict([seen]).quality[0], recalled, atol=1e-3)


def test_feature_config_segments_are_validated_and_survive_json() -> None:
    config = FeatureConfig(embedded_segments=["end"])  # type: ignore[arg-type]
    assert config.embedded_segments == ("end",)
    assert FeatureConfig(**json.loads(json.dumps(config.to_dict()))) == config
    assert PromptFeaturizer(config).embedding_dimension == 384
    with pytest.raises(ValueError, match="embedded_segments"):
        FeatureConfig(embedded_segments=("middle",))


def _same_networks(
    predictor: Tier1Predictor, *, neighbours: int, neighbour_weight: float, memory: bool = True
) -> Tier1Predictor:
    """The predictor's networks with another neighbour term, and without any training-prompt memory if asked."""
    return Tier1Predictor(
        predictor.net,
        models=predictor.models,
        task_labels=predictor.task_labels,
        featurizer=predictor.featurizer,
        training=predictor.training,
        default_output_tokens=predictor.default_output_tokens,
        memory_keys=predictor.memory_keys if memory else None,
        memory_scores=predictor.memory_scores if memory else None,
        neighbours=neighbours,
        neighbour_weight=neighbour_weight,
    )


def test_neighbour_term_is_chosen_on_validation_and_blends_the_nearest_training_scores(
    predictor: Tier1Predictor, tmp_path: Path
) -> None:
    losses = predictor.info["neighbour_validation_bce"]
    assert len(losses) == len(FAST.neighbour_counts) * len(FAST.neighbour_weights)
    best = min(losses, key=losses.__getitem__)
    chosen = f"k={predictor.neighbours},w={predictor.neighbour_weight}"
    assert losses[best] == losses.get(chosen, losses[f"k={FAST.neighbour_counts[0]},w=0.0"])

    # The blend by hand: the network's probability and the mean score of the k nearest training prompts.
    fresh = prompts("math", 3, offset=500) + prompts("poem", 3, offset=500)
    features = predictor.featurizer.transform(fresh)
    predictor_copy = _same_networks(predictor, neighbours=5, neighbour_weight=0.4)
    no_term = (
        _same_networks(predictor, memory=False, neighbours=0, neighbour_weight=0.0)
        .predict_features(features)
        .quality
    )
    keys = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    assert predictor.memory_keys is not None and predictor.memory_scores is not None
    similarity = keys @ predictor.memory_keys.T
    assert similarity.max() < predictor.training.memory_similarity  # no repeats: only the neighbour term
    nearest = np.argsort(-similarity, axis=1)[:, :5]
    expected = 0.6 * no_term + 0.4 * predictor.memory_scores[nearest].mean(axis=1)
    np.testing.assert_allclose(predictor_copy.predict_features(features).quality, expected, atol=1e-6)

    predictor_copy.save(tmp_path)
    loaded = Tier1Predictor.load(tmp_path)
    assert (loaded.neighbours, loaded.neighbour_weight) == (5, 0.4)
    np.testing.assert_allclose(loaded.predict(fresh).quality, expected, atol=2e-3)


def test_without_memory_and_neighbours_no_training_prompts_are_kept() -> None:
    bare = Tier1Predictor.fit(
        table(n=20),
        training=TrainingConfig(
            n_members=1, max_epochs=5, seed=1, memory_weight=0.0, neighbour_weights=(0.0,)
        ),
        features=LEXICAL,
    )
    assert bare.memory_keys is None and bare.neighbour_weight == 0.0
    with pytest.raises(ValueError, match="neighbour_weights"):
        TrainingConfig(neighbour_weights=(1.5,))
    with pytest.raises(ValueError, match="neighbour_counts"):
        TrainingConfig(neighbour_counts=(0,))
    assert TrainingConfig(**json.loads(json.dumps(TrainingConfig().__dict__))) == TrainingConfig()


def test_int8_encoder_really_runs_the_quantized_transformer() -> None:
    import torch

    full, int8 = PromptEncoder(), PromptEncoder(quantized=True)
    transformer = int8._model()[0].auto_model
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in transformer.modules())
    texts = [
        "What is 17 times 23?",
        "Write a haiku about autumn rain.",
        "Which option is a noble gas? A) Ne B) Na",
    ]
    vectors, reference = int8.encode(texts), full.encode(texts)
    cosine = (vectors * reference).sum(axis=1)
    # Close to the float model, yet not equal to it: the int8 weights are what ran.
    assert cosine.min() > 0.8 and np.abs(vectors - reference).max() > 1e-4
    assert int8.model_id != full.model_id  # on-disk caches never mix the two
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_shallow_encoder_runs_only_its_first_layers_and_old_predictors_keep_the_full_model(
    predictor: Tier1Predictor, tmp_path: Path
) -> None:
    shallow, full = PromptEncoder(layers=3, quantized=True), PromptEncoder(quantized=True)
    assert len(shallow._model()[0].auto_model.encoder.layer) == 3
    assert len(full._model()[0].auto_model.encoder.layer) == 6  # the two are separate model copies
    assert shallow.model_id != full.model_id
    texts = ["What is 17 times 23?", "Write a haiku about autumn rain."]
    assert np.abs(shallow.encode(texts) - full.encode(texts)).max() > 1e-3
    with pytest.raises(ValueError, match="at least 1"):
        PromptEncoder(layers=0)
    with pytest.raises(ValueError, match="only 6"):
        PromptEncoder(layers=7).encode(["x"])
    assert FeatureConfig().encoder_layers == 3
    assert PromptFeaturizer(FeatureConfig(), shallow).encoder.layers == 3
    # A predictor saved before the option existed was trained on the full float model, and is served with it.
    predictor.save(tmp_path)
    config = json.loads((tmp_path / "tier1.json").read_text())
    for key in ("encoder_layers", "quantized_encoder"):
        del config["features"][key]
    (tmp_path / "tier1.json").write_text(json.dumps(config))
    old = Tier1Predictor.load(tmp_path).featurizer.config
    assert (old.encoder_layers, old.quantized_encoder) == (None, False)


def test_neighbour_and_memory_terms_are_the_same_in_row_blocks(
    predictor: Tier1Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import langchain_emafusion.tier1.predictor as module

    features = predictor.featurizer.transform(list(table().prompts[:50]) + prompts("poem", 20, offset=900))
    blended = _same_networks(predictor, neighbours=7, neighbour_weight=0.3)
    whole = blended.predict_features(features).quality
    monkeypatch.setattr(module, "_BLOCK", 9)  # 70 prompts in 8 blocks, the last one short
    np.testing.assert_allclose(blended.predict_features(features).quality, whole, atol=1e-12)
