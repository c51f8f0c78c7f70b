"""Tier-1 decision overhead: encode + predict + select for one ~300-token prompt, and training time.

Run: .venv/bin/python benchmarks/overhead.py [--calls 200]
Targets (issue 4): p50 <= 5 ms without the encoder and <= 15 ms with it; training on 10,000 outcome rows
<= 30 s on CPU. Writes benchmarks/results/overhead.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _data import encoder, llmrouter_predictor, llmrouter_split

from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.tier1.features import FeatureConfig, PromptFeaturizer
from langchain_emafusion.tier1.predictor import Tier1Predictor
from langchain_emafusion.tier1.selector import select_models

RESULTS = Path(__file__).parent / "results" / "overhead.md"


def prompts_of_300_tokens(table: OutcomeTable, n: int) -> list[str]:
    """n distinct prompts of ~1,200 characters (~300 tokens): test prompts, repeated/cut to length."""
    out = []
    for i, prompt in enumerate(table.prompts):
        text = (prompt + "\n") * (1 + 1200 // max(len(prompt), 1))
        out.append(f"[{i}] " + text[:1200])
        if len(out) == n:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one request's decision runs on one core; the other serves the members
    shared = encoder()
    predictor = llmrouter_predictor(shared)
    train, test = llmrouter_split()
    cards = replay_cards(train)
    prompts = prompts_of_300_tokens(test, args.calls)
    predictor.predict(prompts[:3])  # warm up: model load, first-call allocations

    without, with_encoder = [], []
    features = predictor.featurizer.transform(prompts)  # precomputed for the "without encoder" figure
    for i in range(len(prompts)):
        started = time.perf_counter()
        p = predictor.predict_features(features[i : i + 1])
        select_models(cards, p.quality[0], p.output_tokens[0], input_tokens=300, knob=0.2)
        without.append(time.perf_counter() - started)
    fresh = PromptFeaturizer(predictor.featurizer.config, encoder=type(shared)())  # empty embedding cache
    predictor.featurizer = fresh
    for prompt in prompts:
        started = time.perf_counter()
        p = predictor.predict([prompt])
        select_models(cards, p.quality[0], p.output_tokens[0], input_tokens=300, knob=0.2)
        with_encoder.append(time.perf_counter() - started)

    # The decision runs before any member is called, so on this machine it may use both cores.
    torch.set_num_threads(2)
    predictor.featurizer = PromptFeaturizer(predictor.featurizer.config, encoder=type(shared)())
    with_encoder_two_threads = []
    for prompt in prompts:
        started = time.perf_counter()
        p = predictor.predict(["(2 threads) " + prompt])
        select_models(cards, p.quality[0], p.output_tokens[0], input_tokens=300, knob=0.2)
        with_encoder_two_threads.append(time.perf_counter() - started)
    torch.set_num_threads(1)

    # References, same run: features alone with earlier defaults (all six MiniLM layers, int8 or float).
    references = {
        "end, six int8 layers": FeatureConfig(encoder_layers=None),
        "head + end, six float layers (session 1's default)": FeatureConfig(
            embedded_segments=("head", "end"), quantized_encoder=False, encoder_layers=None
        ),
    }
    reference_times: dict[str, list[float]] = {}
    for label, config in references.items():
        featurizer = PromptFeaturizer(config, encoder=type(shared)())
        featurizer.transform([f"warm up ({label})"])
        reference_times[label] = []
        for prompt in prompts:
            started = time.perf_counter()
            featurizer.transform([f"({label}) " + prompt])
            reference_times[label].append(time.perf_counter() - started)

    rows_table = train.subset(train.prompt_ids[: 10_000 // len(train.models) + 1])
    started = time.perf_counter()
    trained = Tier1Predictor.fit(rows_table, featurizer=PromptFeaturizer(encoder=shared))
    train_total = time.perf_counter() - started

    lines = [
        "# Tier-1 decision overhead and training time",
        "",
        f"Predictor: {len(predictor.models)} models, {predictor.training.n_members}-network ensemble; "
        f"{args.calls} distinct ~300-token prompts, one at a time, torch on 1 thread. "
        f"Features: embedded segments {list(predictor.featurizer.config.embedded_segments)}, "
        f"int8 encoder: {predictor.featurizer.config.quantized_encoder}, "
        f"encoder layers: {predictor.featurizer.config.encoder_layers or 'all'}.",
        "",
        "| figure | p50 | p95 | target |",
        "|---|---:|---:|---:|",
        f"| predict + select (features ready) | {statistics.median(without) * 1e3:.2f} ms | "
        f"{sorted(without)[int(0.95 * len(without))] * 1e3:.2f} ms | 5 ms |",
        f"| encode + predict + select | {statistics.median(with_encoder) * 1e3:.2f} ms | "
        f"{sorted(with_encoder)[int(0.95 * len(with_encoder))] * 1e3:.2f} ms | 15 ms |",
        f"| encode + predict + select, torch on 2 threads | "
        f"{statistics.median(with_encoder_two_threads) * 1e3:.2f} ms | "
        f"{sorted(with_encoder_two_threads)[int(0.95 * len(with_encoder_two_threads))] * 1e3:.2f} ms | 15 ms |",
        *(
            f"| reference: features only, {label} | {statistics.median(times) * 1e3:.2f} ms | "
            f"{sorted(times)[int(0.95 * len(times))] * 1e3:.2f} ms | |"
            for label, times in reference_times.items()
        ),
        "",
        f"Training on {len(rows_table.rows)} outcome rows ({rows_table.n_prompts} prompts x {len(train.models)} models): "
        f"{train_total:.1f} s in all, of which encoding {trained.info['encode_s']:.1f} s "
        f"(embedding cache warm: {trained.info['encode_s'] < 2}) and training {trained.info['train_s']:.1f} s "
        "(target 30 s).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
