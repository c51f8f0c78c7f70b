"""Onboarding a new model into a trained tier-1 predictor from a few probe outcomes, vs full retraining.

Run: .venv/bin/python benchmarks/onboarding.py [--model llama-3.1-8b-instruct] [--probes 50 100 200]

On llmrouter: train the predictor without one model, then add that model back from 50 / 100 / 200 of its
training outcomes (only its own vectors are fitted), and replay each variant on the test split next to the
predictor retrained on every model and the one that never saw the held-out model. Writes
benchmarks/results/onboarding.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _data import encoder, llmrouter_predictor, llmrouter_split

from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.evaluate import evaluate_policies
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.tier1.features import PromptFeaturizer
from langchain_emafusion.tier1.policy import Tier1Policy
from langchain_emafusion.tier1.predictor import Tier1Predictor

RESULTS = Path(__file__).parent / "results" / "onboarding.md"


def without(table: OutcomeTable, model: str) -> OutcomeTable:
    return OutcomeTable([row for row in table.rows if row.model != model])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="llama-3.1-8b-instruct")
    parser.add_argument("--probes", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shared = encoder()
    train, test = llmrouter_split()
    full = llmrouter_predictor(shared)
    held_out = Tier1Predictor.fit(without(train, args.model), featurizer=PromptFeaturizer(encoder=shared))
    column = train.models.index(args.model)
    rng = np.random.default_rng(args.seed)
    policies = []
    full_policy = Tier1Policy(full)
    full_policy.name = "retrained on all models"
    policies.append(full_policy)
    for n in args.probes:
        picks = rng.choice(train.n_prompts, size=n, replace=False)
        onboarded = Tier1Predictor.load(_save(held_out, n), encoder=shared)
        onboarded.onboard(
            args.model,
            [train.prompts[p] for p in picks],
            [float(train.scores[p, column]) for p in picks],
            [train.row(int(p), column).output_tokens for p in picks],
        )
        policy = Tier1Policy(onboarded)
        policy.name = f"onboarded from {n} probes"
        policies.append(policy)
    missing = Tier1Policy(held_out)
    missing.name = f"without {args.model}"
    policies.append(missing)
    report = evaluate_policies(test, policies, cards=replay_cards(train))
    best = report["best_single_model"]
    lines = [
        f"# Onboarding `{args.model}` into a trained tier-1 predictor (llmrouter test split)",
        "",
        f"Best single model: `{best}` (accuracy {report['models'][best]['accuracy']:.4f}). "
        f"Probes drawn at random from the training split (seed {args.seed}).",
        "",
        "| predictor | acc @ best cost | cost ratio | AUC |",
        "|---|---:|---:|---:|",
    ]
    for name, figures in report["policies"].items():
        ratio = figures["cost_ratio_to_best_single_accuracy"]
        lines.append(
            f"| {name} | {figures['accuracy_at_best_single_cost']:.4f} | "
            f"{'never' if ratio is None else f'{ratio:.3f}'} | {figures['auc_normalized']:.4f} |"
        )
    lines += [
        "",
        "Note: an onboarded model's predicted quality is the network's alone — the other models' predictions also",
        "blend in their recorded scores on the nearest training prompts, which the new model does not have — and",
        "50–200 probes calibrate it less well than a full training run; where the held-out model is a mid-priced",
        "near-duplicate of the others, routing without it can score a higher AUC than routing with a roughly",
        "calibrated copy of it.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


def _save(predictor: Tier1Predictor, n: int) -> Path:
    # A fresh copy per probe count: onboarding mutates the predictor it is called on.
    from _data import CACHE

    return predictor.save(CACHE / "llmrouter" / f"onboarding-base-{n}")


if __name__ == "__main__":
    main()
