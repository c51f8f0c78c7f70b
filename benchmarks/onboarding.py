"""Leave-one-model-out onboarding: a model added from 50 probe outcomes vs retraining and vs leaving it out.

Run: .venv/bin/python benchmarks/onboarding.py --table llmrouter [--models A B ...] [--every K] [--probes 50]
     [--draws 3] [--seed 0]

For each held-out model of a shared table (``llmrouter``, ``mmlu-pro``, ``routellm-gsm8k``; split as
``generalization.py`` splits it, seed ``--seed``): a tier-1 predictor trained on the training split without that
model, the same predictor with the model onboarded from ``--probes`` of its training outcomes (drawn at random,
``--draws`` times, mean reported), and the predictor trained on every model, each replayed on the test split
(tier 1 alone: one member per prompt). Onboarding variants: the default (:meth:`Tier1Predictor.onboard`: a
pull toward the mean member whose strength is chosen by 5-fold cross-validation on the probes, and one standard
error of pessimism), a fixed strong pull (l2 100, pessimism 1: the best fixed strength on llmrouter's test side
when it was tried, so that row is tuned on llmrouter) and the earlier default (l2 1, no pessimism). Fixed
strengths fail one way or the other: a weak pull sends prompts to newcomers on noise (llmrouter, mmlu-pro), a
strong one cannot learn a newcomer unlike the pool (GSM8K, where one model is left). The figure of issue 18: the share of the AUC that
retraining gains over leaving the model out that onboarding recovers, summed over the held-out models.

Fits are cached under the benchmark cache (``onboarding/<table>/seed<seed>/``). Writes
benchmarks/results/onboarding-<table>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _data import CACHE, encoder
from generalization import TEST_FRACTION, load_table

from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.converters import default_shared_dir
from langchain_emafusion.evaluation.evaluate import evaluate_policies
from langchain_emafusion.evaluation.table import OutcomeTable, split_outcomes
from langchain_emafusion.routing.encoder import PromptEncoder
from langchain_emafusion.tier1.features import PromptFeaturizer
from langchain_emafusion.tier1.policy import Tier1Policy
from langchain_emafusion.tier1.predictor import Tier1Predictor

RESULTS = Path(__file__).parent / "results"
VARIANTS: dict[str, dict[str, Any]] = {
    "onboarded": {},  # the defaults of Tier1Predictor.onboard
    "onboarded, fixed l2 100": {"l2": 100.0, "pessimism": 1.0},
    "onboarded, earlier defaults (l2 1, no pessimism)": {"l2": 1.0, "pessimism": 0.0},
}


def without(table: OutcomeTable, model: str) -> OutcomeTable:
    return OutcomeTable([row for row in table.rows if row.model != model])


def fitted(table: OutcomeTable, folder: Path, shared: PromptEncoder) -> Path:
    if not (folder / "tier1.json").is_file():
        Tier1Predictor.fit(table, featurizer=PromptFeaturizer(encoder=shared)).save(folder)
    return folder


def policy(predictor: Tier1Predictor, name: str) -> Tier1Policy:
    made = Tier1Policy(predictor)
    made.name = name
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default="llmrouter", choices=["llmrouter", "mmlu-pro", "routellm-gsm8k"])
    parser.add_argument("--models", nargs="*", help="held-out models (default: every model, or every K-th)")
    parser.add_argument("--every", type=int, default=1, help="hold out every K-th model in table order")
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shared = encoder()
    table = OutcomeTable(load_table(args.table, default_shared_dir() / "data"))
    train, test = split_outcomes(table, test_fraction=TEST_FRACTION, seed=args.seed)
    cards = replay_cards(train)
    work = CACHE / "onboarding" / args.table / f"seed{args.seed}"
    full = Tier1Predictor.load(fitted(train, work / "full", shared), encoder=shared)
    held_out = args.models or list(train.models)[:: args.every]
    per_model: dict[str, dict[str, float]] = {}
    for model in held_out:
        started = time.perf_counter()
        folder = fitted(without(train, model), work / f"without-{model}", shared)
        column = train.models.index(model)
        policies = [
            policy(full, "retrained"),
            policy(Tier1Predictor.load(folder, encoder=shared), "left out"),
        ]
        rng = np.random.default_rng(args.seed)
        for draw in range(args.draws):
            picks = rng.choice(train.n_prompts, size=args.probes, replace=False)
            prompts = [train.prompts[p] for p in picks]
            scores = [float(train.scores[p, column]) for p in picks]
            tokens = [train.row(int(p), column).output_tokens for p in picks]
            for name, options in VARIANTS.items():
                onboarded = Tier1Predictor.load(folder, encoder=shared)
                onboarded.onboard(model, prompts, scores, tokens, **options)
                policies.append(policy(onboarded, f"{name}#{draw}"))
        report = evaluate_policies(test, policies, cards=cards)
        figures: dict[str, list[float]] = {}
        for name, result in report["policies"].items():
            figures.setdefault(name.split("#")[0], []).append(result["auc_normalized"])
        per_model[model] = {name: float(np.mean(values)) for name, values in figures.items()}
        print(
            model,
            json.dumps({k: round(v, 4) for k, v in per_model[model].items()}),
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
    write(args, per_model, len(train.models), train.n_prompts, test.n_prompts)


def write(
    args: argparse.Namespace, per_model: dict[str, dict[str, float]], n_models: int, n_train: int, n_test: int
) -> None:
    names = ["retrained", "left out", *VARIANTS]
    gain = {name: sum(f[name] - f["left out"] for f in per_model.values()) for name in names}
    lines = [
        f"# Onboarding from {args.probes} probes, leave-one-model-out: {args.table}",
        "",
        f"Split seed {args.seed} ({n_train} training / {n_test} test prompts, {n_models} models); tier-1 policy "
        f"AUC (normalized) on the test split; onboarded rows are the mean of {args.draws} probe draws.",
        f"Reproduce: `.venv/bin/python benchmarks/onboarding.py --table {args.table}"
        + (f" --every {args.every}" if args.every > 1 else "")
        + f" --probes {args.probes} --draws {args.draws} --seed {args.seed}`",
        "",
        "| held-out model | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for model, figures in per_model.items():
        lines.append(f"| {model} | " + " | ".join(f"{figures[n]:.4f}" for n in names) + " |")
    lines.append("| **sum of gains over left out** | " + " | ".join(f"{gain[n]:+.4f}" for n in names) + " |")
    recovered = {n: gain[n] / gain["retrained"] if gain["retrained"] > 0 else float("nan") for n in names}
    lines.append(
        "| **share of retraining's gain** | " + " | ".join(f"{recovered[n]:.2f}" for n in names) + " |"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"onboarding-{args.table}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"onboarding-{args.table}.json").write_text(
        json.dumps(
            {"args": vars(args), "per_model": per_model, "gain": gain, "recovered": recovered}, indent=1
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
