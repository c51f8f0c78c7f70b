"""Targets benchmark: does a knob read off the out-of-fold curve meet its target on prompts it never saw?

    python benchmarks/targets.py                                   # llmrouter, routellm-gsm8k, routellm-mmlu
    python benchmarks/targets.py --tables mmlu-pro --seeds 0 1     # slower (29 members, tier 2)

For each (table, seed): the prompts are split 80/20 by a seeded hash of ``prompt_id`` (``split_outcomes``, the
generalization benchmark's splits); ``train_policy`` trains with its defaults and saves the whole system's
out-of-fold knob curve; the trained policy is then replayed on the test split at every knob. Each target is read
off the curve with :func:`~langchain_emafusion.routing.targets.choose_knob`, exactly as
``FusionChatModel(target_accuracy=...)`` does, and the chosen knob's test figures are compared with what the
curve promised.

Targets, the same rule on every table (nothing set per table):

- accuracy: the best single member's accuracy on the training split ("its accuracy for less"), and the points
  50%, 75% and 90% of the way from the curve's lowest to its highest accuracy;
- mean cost per request: the points 10%, 25% and 50% of the way from the curve's lowest to its highest cost.

The comparison row ("in-sample"): the same targets read off the policy replayed on its own training split, the
calibration one would do without out-of-fold predictions. Writes ``benchmarks/results/targets.md`` and
``targets.json``; runs are cached under ``~/.cache/langchain-emafusion/benchmarks/targets``.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.generalization import load_table  # noqa: E402
from langchain_emafusion.evaluation.converters import default_shared_dir  # noqa: E402
from langchain_emafusion.evaluation.replay import replay  # noqa: E402
from langchain_emafusion.evaluation.table import (  # noqa: E402
    OutcomeTable,
    split_outcomes,
    write_outcomes,
)
from langchain_emafusion.evaluation.training import load_cards, load_policy, train_policy  # noqa: E402
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402
from langchain_emafusion.routing.targets import (  # noqa: E402
    CalibrationPoint,
    choose_knob,
    curve_from_json,
    curve_to_json,
    load_calibration,
)

TABLES = ("llmrouter", "routellm-gsm8k", "routellm-mmlu")
SEEDS = (0, 1, 2, 3, 4)
TEST_FRACTION = 0.2
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
ACCURACY_FRACTIONS = (0.5, 0.75, 0.9)
COST_FRACTIONS = (0.1, 0.25, 0.5)
BOOTSTRAP = 1000


def work_root() -> Path:
    return cache_dir() / "benchmarks" / "targets"


def replayed(policy_dir: Path, table: OutcomeTable, encoder: PromptEncoder) -> dict[str, Any]:
    """Per knob: the policy's per-prompt correctness and cost on ``table``."""
    policy, _ = load_policy(policy_dir, encoder=encoder)
    cards = [c for c in load_cards(policy_dir) if c.name in table.models]
    run = replay(policy, table, cards, settings=policy.settings())
    return {
        "knobs": [s.setting for s in run.settings],
        "correct": [s.correct.tolist() for s in run.settings],
        "cost_usd": [s.cost_usd.tolist() for s in run.settings],
    }


def run_one(
    table: OutcomeTable, name: str, seed: int, encoder: PromptEncoder, in_sample: bool
) -> dict[str, Any]:
    work = work_root() / name / f"seed{seed}"
    saved = work / "run.json"
    if saved.is_file():
        cached: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
        if cached.get("in_sample") is not None or not in_sample:
            return cached
    train, test = split_outcomes(table, test_fraction=TEST_FRACTION, seed=seed)
    policy_dir = work / "policy"
    started = time.perf_counter()
    if not (policy_dir / "manifest.json").is_file():
        train_policy(write_outcomes(train, work / "train.jsonl"), policy_dir, seed=seed, encoder=encoder)
    curve, source = load_calibration(policy_dir)
    run: dict[str, Any] = {
        "table": name,
        "seed": seed,
        "n_train": train.n_prompts,
        "n_test": test.n_prompts,
        "best_single_train_accuracy": float(train.scores.mean(axis=0).max()),
        "curve": curve_to_json(curve),
        "source": source,
        "test": replayed(policy_dir, test, encoder),
        "in_sample": None,
    }
    if in_sample:
        on_train = replayed(policy_dir, train, encoder)
        run["in_sample"] = curve_to_json(
            [
                CalibrationPoint(k, float(np.mean(c)), float(np.mean(b)))
                for k, c, b in zip(on_train["knobs"], on_train["correct"], on_train["cost_usd"], strict=True)
            ]
        )
    run["total_s"] = round(time.perf_counter() - started, 1)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(run) + "\n", encoding="utf-8")
    return run


def targets(run: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """The targets of one run (see the module docstring), from its out-of-fold curve."""
    curve = curve_from_json(run["curve"])
    accuracies = [p.accuracy for p in curve]
    costs = [p.mean_cost_usd for p in curve]
    low, high = min(accuracies), max(accuracies)
    out: list[tuple[str, dict[str, float]]] = [
        ("accuracy = best single (train)", {"target_accuracy": run["best_single_train_accuracy"]})
    ]
    out += [
        (f"accuracy {int(100 * q)}% of range", {"target_accuracy": low + q * (high - low)})
        for q in ACCURACY_FRACTIONS
    ]
    out += [
        (f"cost {int(100 * q)}% of range", {"max_mean_cost_usd": min(costs) + q * (max(costs) - min(costs))})
        for q in COST_FRACTIONS
    ]
    return out


def evaluate_target(
    run: dict[str, Any], curve: list[CalibrationPoint], target: dict[str, float]
) -> dict[str, Any]:
    """The knob the curve picks for ``target`` and its figures on the test split."""
    choice = choose_knob(curve, **target)
    index = run["test"]["knobs"].index(choice.knob)
    correct = np.asarray(run["test"]["correct"][index])
    cost = np.asarray(run["test"]["cost_usd"][index])
    rng = np.random.default_rng(run["seed"])
    draws = rng.integers(0, len(correct), size=(BOOTSTRAP, len(correct)))
    accuracy, mean_cost = float(correct.mean()), float(cost.mean())
    low, high = np.percentile(correct[draws].mean(axis=1), [2.5, 97.5])
    if "target_accuracy" in target:
        goal = target["target_accuracy"]
        met = accuracy >= goal - 1e-12
        within_noise = high >= goal
    else:
        goal = target["max_mean_cost_usd"]
        met = mean_cost <= goal + 1e-15
        cost_high = float(np.percentile(cost[draws].mean(axis=1), 2.5))
        within_noise = cost_high <= goal
    return {
        "knob": choice.knob,
        "promised_met": choice.met,
        "expected_accuracy": choice.expected_accuracy,
        "expected_cost_usd": choice.expected_cost_usd,
        "test_accuracy": accuracy,
        "test_accuracy_ci95": [float(low), float(high)],
        "test_cost_usd": mean_cost,
        "goal": goal,
        "met_on_test": bool(met),
        "met_within_noise": bool(within_noise),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        curves = {"out-of-fold": curve_from_json(run["curve"])}
        if run.get("in_sample"):
            curves["in-sample"] = curve_from_json(run["in_sample"])
        for label, target in targets(run):
            for calibration, curve in curves.items():
                rows.setdefault((run["table"], label, calibration), []).append(
                    evaluate_target(run, curve, target)
                )
    summary = []
    for (table, label, calibration), results in rows.items():
        summary.append(
            {
                "table": table,
                "target": label,
                "calibration": calibration,
                "seeds": len(results),
                "met_on_test": sum(r["met_on_test"] for r in results),
                "met_within_noise": sum(r["met_within_noise"] for r in results),
                "mean_accuracy_gap": float(
                    np.mean([r["expected_accuracy"] - r["test_accuracy"] for r in results])
                ),
                "mean_cost_ratio": float(
                    np.mean(
                        [
                            r["test_cost_usd"] / r["expected_cost_usd"]
                            for r in results
                            if r["expected_cost_usd"] > 0
                        ]
                    )
                )
                if any(r["expected_cost_usd"] > 0 for r in results)
                else None,
                "results": results,
            }
        )
    return {"rows": summary}


def markdown(summary: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Targets benchmark (knob read off the calibration curve, checked on the test split)",
        "",
        "Regenerate with `python benchmarks/targets.py` (see its docstring). Splits 80/20 by a seeded hash of",
        "`prompt_id`; the policy trained with its defaults; each target read off the curve as",
        "`FusionChatModel(target_accuracy=...)` does. `met` counts seeds whose test figure meets the target,",
        "`within noise` those whose 95% bootstrap interval (over test prompts) reaches it; `accuracy gap` is the",
        "curve's expected accuracy minus the test accuracy at the chosen knob (positive: the curve promised more);",
        "`cost ratio` the test mean cost over the expected one. `in-sample`: the same targets read off the policy",
        "replayed on its own training split.",
        "",
        "| table | target | calibration | seeds | met | within noise | accuracy gap | cost ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        ratio = "-" if row["mean_cost_ratio"] is None else f"{row['mean_cost_ratio']:.3f}"
        lines.append(
            f"| {row['table']} | {row['target']} | {row['calibration']} | {row['seeds']} | {row['met_on_test']} | "
            f"{row['met_within_noise']} | {row['mean_accuracy_gap']:+.4f} | {ratio} |"
        )
    lines += ["", "Runs:", ""]
    for run in runs:
        lines.append(
            f"- {run['table']} seed {run['seed']}: {run['n_train']} train / {run['n_test']} test prompts; curve: "
            f"{run['source']}; {run.get('total_s', '?')} s"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--no-in-sample", action="store_true", help="Skip the in-sample comparison row.")
    parser.add_argument("--data-dir", type=Path, default=default_shared_dir() / "data")
    parser.add_argument(
        "--cached-only", action="store_true", help="Report the finished runs only; train nothing."
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    runs = []
    for name in args.tables:
        table = OutcomeTable(load_table(name, args.data_dir))
        for seed in args.seeds:
            if args.cached_only and not (work_root() / name / f"seed{seed}" / "run.json").is_file():
                continue
            print(f"{name} seed {seed} ...", flush=True)
            runs.append(run_one(table, name, seed, encoder, in_sample=not args.no_in_sample))
    summary = summarize(runs)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "targets.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (RESULTS_DIR / "targets.md").write_text(markdown(summary, runs), encoding="utf-8")
    print(markdown(summary, runs))


if __name__ == "__main__":
    main()
