"""Learning from production, replayed on recorded outcomes: does a router retrained on its feedback route better?

    python benchmarks/feedback.py                                   # llmrouter, routellm-gsm8k, mmlu-pro; seeds 0-4
    python benchmarks/feedback.py --tables llmrouter --seeds 0

For each table of ../shared/data and split seed: the prompts are split 80/20 by ``split_outcomes`` (the
generalization benchmark's test split); the training 80% is split again by prompt into a **first** quarter, on
which the tier-1 predictor is trained (the router a user deploys), and three quarters of **production traffic**.
Each production prompt is routed by that predictor (the selector, at a knob drawn uniformly from the sweep's
settings: users with different trade-offs; or at the default knob 0.2 alone, a second row) and only the
answering member's recorded score is revealed: the feedback a user would give. Every variant is then replayed
on the test split:

- ``first quarter``: the deployed router;
- ``retrained on feedback (all knobs)`` / ``(knob 0.2)``: retrained on the first quarter plus the production
  prompts, each with its answering member's revealed score and the deployed router's predicted quality standing
  in for the other members' (:func:`~langchain_emafusion.feedback.training.feedback_training_table`, the table
  ``emafusion train --outcomes FEEDBACK --base POLICY`` retrains on: the direct method of off-policy learning);
- ``full information``: retrained on the first quarter plus every member's recorded row of every production
  prompt (what an outcome table of the traffic would give: the upper bound feedback could reach).

Every variant is the tier-1 network with its neighbour term (``Tier1Predictor.fit``); the router-family choice
``emafusion train`` adds on top is not replayed here (it would multiply the run time by about five).
Figures: normalized AUC (EVALUATION.md), accuracy at the best single model's cost, per seed and their mean, the
AUC difference to the deployed router with a 95% bootstrap interval over test prompts, and the share of the
full-information gain the feedback recovers. Also without the test prompts that repeat a training prompt word for
word. Writes benchmarks/results/feedback.{md,json}.

A per-member correction of the deployed router's quality logits fitted to the same feedback (strength chosen by
cross-validation on the feedback) was measured first and dropped: mean AUC 0.6176 -> 0.6165 (llmrouter, 4 seeds),
0.7313 -> 0.7232 (mmlu-pro, 3 seeds), 0.7616 -> 0.7645 (RouteLLM GSM8K, 3 seeds); at knob 0.2 alone 0.6096 and
0.7110 on the first two.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from generalization import load_table  # noqa: E402

from langchain_emafusion.evaluation.cards import replay_cards  # noqa: E402
from langchain_emafusion.evaluation.converters import default_shared_dir  # noqa: E402
from langchain_emafusion.evaluation.evaluate import auc_difference_interval, restricted_run  # noqa: E402
from langchain_emafusion.evaluation.figures import build_report  # noqa: E402
from langchain_emafusion.evaluation.protocol import PromptView  # noqa: E402
from langchain_emafusion.evaluation.replay import replay  # noqa: E402
from langchain_emafusion.evaluation.table import OutcomeTable, split_outcomes  # noqa: E402
from langchain_emafusion.feedback.training import (  # noqa: E402
    FEEDBACK_PROMPT_PREFIX,
    ScoredAnswer,
    feedback_training_table,
)
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402
from langchain_emafusion.tier1.features import PromptFeaturizer  # noqa: E402
from langchain_emafusion.tier1.policy import Tier1Policy  # noqa: E402
from langchain_emafusion.tier1.predictor import Tier1Predictor  # noqa: E402
from langchain_emafusion.tier1.selector import KNOB_SETTINGS  # noqa: E402

TABLES = ("llmrouter", "routellm-gsm8k", "mmlu-pro")
SEEDS = (0, 1, 2, 3, 4)
TEST_FRACTION = 0.2
PRODUCTION_FRACTION = 0.75
DEFAULT_KNOB = 0.2
RESULTS = REPO_ROOT / "benchmarks" / "results"
FIRST, ALL_KNOBS, ONE_KNOB, FULL = (
    "first quarter",
    "retrained on feedback (all knobs)",
    "retrained on feedback (knob 0.2)",
    "full information",
)


def production_feedback(
    predictor: Tier1Predictor, production: OutcomeTable, cards: list[Any], knobs: list[float]
) -> tuple[list[str], list[str], list[float]]:
    """Route each production prompt at its knob; reveal the answering member's recorded score only."""
    policy = Tier1Policy(predictor)
    policy.prepare(production.prompts)
    column = {name: j for j, name in enumerate(production.models)}
    prompts, members, scores = [], [], []
    for p, (prompt, knob) in enumerate(zip(production.prompts, knobs, strict=True)):
        chosen = policy.rank(PromptView(prompt, cards), knob)[0]
        prompts.append(prompt)
        members.append(chosen)
        scores.append(float(production.scores[p, column[chosen]]))
    return prompts, members, scores


def retrained(
    first: OutcomeTable,
    production: OutcomeTable,
    deployed: Tier1Predictor,
    feedback: tuple[list[str], list[str], list[float]],
    featurizer: PromptFeaturizer,
) -> Tier1Predictor:
    """The deployed router retrained on its first quarter plus the feedback (the package's table builder)."""
    answers = [  # feedback follows the production prompts' order
        ScoredAnswer(f"{FEEDBACK_PROMPT_PREFIX}{prompt_id}", prompt, member, score)
        for prompt_id, prompt, member, score in zip(production.prompt_ids, *feedback, strict=True)
    ]
    return Tier1Predictor.fit(feedback_training_table(first, deployed, answers), featurizer=featurizer)


def run_one(table: OutcomeTable, name: str, seed: int, encoder: PromptEncoder) -> dict[str, Any]:
    started = time.perf_counter()
    torch.manual_seed(seed)
    train, test = split_outcomes(table, test_fraction=TEST_FRACTION, seed=seed)
    first, production = split_outcomes(train, test_fraction=PRODUCTION_FRACTION, seed=seed)
    featurizer = PromptFeaturizer(encoder=encoder)
    deployed = Tier1Predictor.fit(first, featurizer=featurizer)
    full = Tier1Predictor.fit(train, featurizer=featurizer)
    cards = list(replay_cards(first))
    rng = np.random.default_rng(seed)
    mixed = [float(k) for k in rng.choice(np.asarray(KNOB_SETTINGS, dtype=float), size=production.n_prompts)]
    variants: dict[str, Tier1Predictor] = {FIRST: deployed}
    account: dict[str, Any] = {}
    for label, knobs in ((ALL_KNOBS, mixed), (ONE_KNOB, [DEFAULT_KNOB] * production.n_prompts)):
        feedback = production_feedback(deployed, production, cards, knobs)
        torch.manual_seed(seed)
        variants[label] = retrained(first, production, deployed, feedback, featurizer)
        account[label] = {
            "feedback": len(feedback[0]),
            "per_member": {m: feedback[1].count(m) for m in sorted(set(feedback[1]))},
        }
    variants[FULL] = full
    runs = []
    for label, predictor in variants.items():
        policy = Tier1Policy(predictor)
        policy.name = label
        runs.append(replay(policy, test, cards))
    seen = set(train.prompts)
    fresh = np.array([prompt not in seen for prompt in test.prompts])
    out: dict[str, Any] = {
        "table": name,
        "seed": seed,
        "n_first": first.n_prompts,
        "n_production": production.n_prompts,
        "n_test": test.n_prompts,
        "n_test_repeats": int((~fresh).sum()),
        "feedback": account,
    }
    subsets = [("all", test, runs)]
    if 0 < int(fresh.sum()) < test.n_prompts:
        ids = [pid for pid, keep in zip(test.prompt_ids, fresh, strict=True) if keep]
        rows = np.flatnonzero(fresh)
        subsets.append(("without repeats", test.subset(ids), [restricted_run(run, rows) for run in runs]))
    for subset, part, part_runs in subsets:
        report = build_report(part, part_runs)
        by_name = {run.name: run for run in part_runs}
        figures = {
            label: {
                "auc": report["policies"][label]["auc_normalized"],
                "acc_at_best_cost": report["policies"][label]["accuracy_at_best_single_cost"],
            }
            for label in variants
        }
        versus = {
            label: auc_difference_interval(part, by_name[label], by_name[FIRST], report, seed=seed)
            for label in (ALL_KNOBS, ONE_KNOB, FULL)
        }
        out[subset] = {
            "n_prompts": part.n_prompts,
            "figures": figures,
            "versus_first": versus,
            "best_single": report["best_single_model"],
            "best_single_accuracy": report["models"][report["best_single_model"]]["accuracy"],
        }
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# Learning from production: a router retrained on its feedback (replayed on recorded outcomes)",
        "",
        "Generated by `benchmarks/feedback.py` (protocol in its docstring). The deployed router is trained on a",
        "quarter of the training split; the other three quarters are production traffic that reveals only the",
        "answering member's score; `retrained on feedback` retrains on the first quarter plus that traffic (revealed",
        "scores, the deployed router's predictions for the rest); `full information` retrains on every member's",
        "score of that traffic. Test split: 20 % of each table by a seeded hash of the prompt id. Mean over seeds;",
        "intervals: 95 % bootstrap over test prompts of the AUC difference to the deployed router, averaged over",
        "seeds. `recovered`: the feedback's AUC gain as a share of full information's.",
        "",
    ]
    tables = list(dict.fromkeys(r["table"] for r in results))
    for table in tables:
        rows = [r for r in results if r["table"] == table]
        seeds = ", ".join(str(r["seed"]) for r in rows)
        first = rows[0]
        lines += [
            f"## {table} (seeds {seeds})",
            "",
            f"{first['n_first']} prompts to train the deployed router, {first['n_production']} of production "
            f"traffic, {first['n_test']} test prompts (seed {first['seed']}).",
            "",
        ]
        for subset in ("all", "without repeats"):
            parts = [r[subset] for r in rows if subset in r]
            if not parts:
                continue
            lines += [
                f"### {subset} ({parts[0]['n_prompts']} test prompts, seed {rows[0]['seed']})",
                "",
                "| router | AUC | acc @ best single cost | Δ AUC vs deployed (95 % CI) | recovered |",
                "|---|---:|---:|---|---:|",
            ]
            full_gain = np.mean([p["figures"][FULL]["auc"] - p["figures"][FIRST]["auc"] for p in parts])
            for label in (FIRST, ALL_KNOBS, ONE_KNOB, FULL):
                auc = np.mean([p["figures"][label]["auc"] for p in parts])
                acc = np.mean([p["figures"][label]["acc_at_best_cost"] for p in parts])
                if label == FIRST:
                    delta, recovered = "", ""
                else:
                    diff = np.mean([p["versus_first"][label]["auc_difference"] for p in parts])
                    low = np.mean([p["versus_first"][label]["ci95_low"] for p in parts])
                    high = np.mean([p["versus_first"][label]["ci95_high"] for p in parts])
                    delta = f"{diff:+.4f} ({low:+.4f} … {high:+.4f})"
                    gain = auc - np.mean([p["figures"][FIRST]["auc"] for p in parts])
                    recovered = f"{gain / full_gain:.0%}" if label != FULL and full_gain > 1e-6 else ""
                lines.append(f"| {label} | {auc:.4f} | {acc:.4f} | {delta} | {recovered} |")
            best = np.mean([p["best_single_accuracy"] for p in parts])
            lines += ["", f"Best single model's accuracy: {best:.4f}.", ""]
        members = [len(r["feedback"][ALL_KNOBS]["per_member"]) for r in rows]
        one = [len(r["feedback"][ONE_KNOB]["per_member"]) for r in rows]
        lines += [
            f"Members that answered production traffic, per seed: all knobs {members}, knob 0.2 {one}.",
            "",
        ]
    lines.append(
        "Reproduce: `.venv/bin/python benchmarks/feedback.py` (about 2 minutes per table and seed, mmlu-pro and llmrouter; 30 s GSM8K)."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    data = default_shared_dir() / "data"
    work = cache_dir() / "benchmarks" / "feedback"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.tables:
        table = OutcomeTable(load_table(name, data))
        for seed in args.seeds:
            saved = work / f"{name}-seed{seed}.json"
            if saved.is_file():
                result = json.loads(saved.read_text(encoding="utf-8"))
            else:
                result = run_one(table, name, seed, encoder)
                saved.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            print(
                f"{name} seed {seed}: "
                + ", ".join(f"{k} {v['auc']:.4f}" for k, v in result["all"]["figures"].items())
                + f" ({result['seconds']} s)",
                flush=True,
            )
            results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "feedback.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = markdown(results)
    (RESULTS / "feedback.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
