"""Generalization benchmark: one default configuration on every shared table, five split seeds, both cost variants.

    python benchmarks/generalization.py                       # everything (hours on 2 cores; resumable)
    python benchmarks/generalization.py --tables mmlu-pro --seeds 0 1

Tables (../shared/data): llmrouter (9 models; the source's train and test files pooled), routellm-mmlu and
routellm-gsm8k (2 models), mmlu-pro (29 models, answers and responses). Each also in a **costs-only** variant:
the same rows with their token counts dropped, so costs must be learned from ``cost_usd`` and prompt length.

For each (table, variant, seed): the prompts are split 80/20 by a seeded hash of ``prompt_id``
(``split_outcomes``); ``train_policy`` trains with its defaults (the router blend and tier-2 strategies chosen
out of fold on the training split alone); ``evaluate_policy_dir(baselines=True)`` replays ``emafusion``, its
``tier1`` half and every baseline (each baseline's own hyper-parameter chosen by cross-validation on the same
training split) on the test split, on all test prompts and on those that do not repeat a training prompt word
for word. Nothing here is set per table.

Writes ``benchmarks/results/generalization.md`` and ``generalization.json``; per-run reports are cached under
``~/.cache/langchain-emafusion/benchmarks/generalization`` (a rerun skips finished runs; ``--fresh`` redoes them).
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

from langchain_emafusion.evaluation.converters import (  # noqa: E402
    convert_llmrouter,
    convert_routellm_gsm8k,
    convert_routellm_mmlu,
    default_shared_dir,
)
from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir  # noqa: E402
from langchain_emafusion.evaluation.table import (  # noqa: E402
    OutcomeRow,
    OutcomeTable,
    read_outcomes,
    split_outcomes,
    write_outcomes,
)
from langchain_emafusion.evaluation.training import train_policy  # noqa: E402
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402

TABLES = ("llmrouter", "routellm-gsm8k", "mmlu-pro", "routellm-mmlu")
VARIANTS = ("tokens", "costs-only")
SEEDS = (0, 1, 2, 3, 4)
TEST_FRACTION = 0.2
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
OURS = ("emafusion", "tier1")


def work_root() -> Path:
    return cache_dir() / "benchmarks" / "generalization"


def load_table(name: str, data_dir: Path) -> list[OutcomeRow]:
    if name == "llmrouter":
        return convert_llmrouter(data_dir, split="all")
    if name == "routellm-mmlu":
        return convert_routellm_mmlu(data_dir)
    if name == "routellm-gsm8k":
        return convert_routellm_gsm8k(data_dir)
    return list(read_outcomes(data_dir / "mmlu-pro" / "outcomes.jsonl.gz").rows)


def costs_only(rows: list[OutcomeRow]) -> list[OutcomeRow]:
    """The same rows without token counts (recorded bills only)."""
    return [row.model_copy(update={"input_tokens": None, "output_tokens": None}) for row in rows]


def run_one(
    table: OutcomeTable, name: str, variant: str, seed: int, encoder: PromptEncoder, fresh: bool
) -> dict[str, Any]:
    work = work_root() / name / variant / f"seed{seed}"
    saved = work / "report.json"
    if saved.is_file() and not fresh:
        return json.loads(saved.read_text(encoding="utf-8"))
    train, test = split_outcomes(table, test_fraction=TEST_FRACTION, seed=seed)
    train_path = write_outcomes(train, work / "train.jsonl")
    test_path = write_outcomes(test, work / "test.jsonl")
    started = time.perf_counter()
    train_policy(train_path, work / "policy", seed=seed, encoder=encoder, progress=False)
    train_s = time.perf_counter() - started
    report = evaluate_policy_dir(test_path, work / "policy", baselines=True, encoder=encoder, progress=False)
    report.update(
        table=name,
        variant=variant,
        seed=seed,
        n_train_prompts=train.n_prompts,
        train_s=round(train_s, 1),
        total_s=round(time.perf_counter() - started, 1),
    )
    saved.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def figures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per policy: acc @ best single cost, cost ratio, AUC; and the best single model's accuracy."""
    out = {
        name: {
            "acc_at_best_cost": p["accuracy_at_best_single_cost"],
            "cost_ratio": p["cost_ratio_to_best_single_accuracy"],
            "auc": p["auc_normalized"],
        }
        for name, p in report["policies"].items()
    }
    best = report["best_single_model"]
    out["best single"] = {
        "acc_at_best_cost": report["models"][best]["accuracy"],
        "cost_ratio": 1.0,
        "auc": None,
    }
    return out


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (table, variant, subset): mean figures over seeds, and each of ours vs the best baseline per seed."""
    summary: dict[str, Any] = {}
    for report in reports:
        for subset in ("all", "without repeats"):
            part = report if subset == "all" else report.get("without_repeats")
            if part is None:
                continue
            key = f"{report['table']} | {report['variant']} | {subset}"
            entry = summary.setdefault(
                key, {"seeds": [], "n_prompts": [], "figures": {}, "versus": [], "router": []}
            )
            entry["seeds"].append(report["seed"])
            entry["n_prompts"].append(part["n_prompts"])
            for policy, values in figures(part).items():
                slot = entry["figures"].setdefault(
                    policy, {"acc_at_best_cost": [], "cost_ratio": [], "auc": []}
                )
                for metric, value in values.items():
                    slot[metric].append(value)
            versus = part.get("vs_best_baseline")
            if versus:
                entry["versus"].append(
                    {
                        "seed": report["seed"],
                        "baseline": versus["baseline"],
                        **{name: versus[name] for name in OURS if name in versus},
                    }
                )
            if subset == "all":
                entry["router"].append(report["policy_manifest"].get("router", {}).get("chosen"))
    return summary


def mean_text(values: list[Any], digits: int = 4) -> str:
    real = [v for v in values if v is not None]
    if not real:
        return "never"
    text = f"{np.mean(real):.{digits}f}"
    return text if len(real) == len(values) else f"{text} ({len(values) - len(real)}× never)"


def markdown(summary: dict[str, Any], kept: list[str] | None = None) -> str:
    lines = [
        "# Generalization benchmark (every shared table, both cost variants, split seeds)",
        "",
        "Regenerate with `python benchmarks/generalization.py` (see its docstring). One default configuration;",
        "splits by a seeded hash of `prompt_id` (80/20); figures on the test split (EVALUATION.md), mean over the",
        "seeds listed. `costs-only`: token counts dropped (costs learned from `cost_usd` and prompt length).",
        "`without repeats`: the same runs on the test prompts that do not repeat a training prompt word for word.",
        "`vs best baseline`: per seed, ours − the best baseline by AUC with its 95% bootstrap interval over",
        "test prompts; `router` is the blend validation chose on the training split (per seed).",
    ]
    if kept:
        tables = sorted({key.split(" | ")[0] for key in kept})
        lines += [
            "",
            f"Kept from the previous results file (not rerun in this partial rerun, `--keep-previous`): "
            f"{', '.join(tables)}.",
        ]
    lines += [
        "",
        "## Summary (mean over seeds; the interval column is the lowest and highest per-seed bound)",
        "",
        "| table | variant | test prompts | seeds | best single acc | emafusion acc @ best cost | emafusion cost "
        "ratio | emafusion AUC | tier1 AUC | best baseline AUC | emafusion − best baseline AUC: mean "
        "(lowest lower bound … highest upper bound) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, entry in summary.items():
        lines.append(summary_row(key, entry))
    for key, entry in summary.items():
        seeds = ", ".join(str(s) for s in entry["seeds"])
        lines += [
            "",
            f"## {key} (seeds {seeds})",
            "",
            "| policy | acc @ best cost | cost ratio | AUC |",
            "|---|---:|---:|---:|",
        ]
        for policy, values in entry["figures"].items():
            lines.append(
                f"| {policy} | {mean_text(values['acc_at_best_cost'])} | {mean_text(values['cost_ratio'], 3)} "
                f"| {mean_text(values['auc'])} |"
            )
        for versus in entry["versus"]:
            parts = [
                f"{name} {versus[name]['auc_difference']:+.4f} ({versus[name]['ci95_low']:+.4f} … "
                f"{versus[name]['ci95_high']:+.4f})"
                for name in OURS
                if name in versus
            ]
            lines.append(f"- seed {versus['seed']}: vs {versus['baseline']}: " + "; ".join(parts))
        if entry["router"]:
            lines.append("- router: " + "; ".join(json.dumps(r) for r in entry["router"]))
    return "\n".join(lines) + "\n"


def summary_row(key: str, entry: dict[str, Any]) -> str:
    """One summary line: ours, the best single model and the strongest baseline, mean over seeds."""
    table, variant, subset = key.split(" | ")
    figures_of = entry["figures"]
    baselines = [p for p in figures_of if p not in (*OURS, "best single")]
    best_baseline = max(baselines, key=lambda p: float(np.mean(figures_of[p]["auc"])))
    gaps = [v["emafusion"] for v in entry["versus"] if "emafusion" in v]
    gap = (
        f"{np.mean([g['auc_difference'] for g in gaps]):+.4f} ({min(g['ci95_low'] for g in gaps):+.4f} … "
        f"{max(g['ci95_high'] for g in gaps):+.4f})"
        if gaps
        else "n/a"
    )
    ours = figures_of.get("emafusion", {"acc_at_best_cost": [None], "cost_ratio": [None], "auc": [None]})
    tier1 = figures_of.get("tier1", {"auc": [None]})
    return (
        f"| {table} | {variant}{' (no repeats)' if subset != 'all' else ''} | {mean_text(entry['n_prompts'], 0)} "
        f"| {len(entry['seeds'])} | {mean_text(figures_of['best single']['acc_at_best_cost'])} "
        f"| {mean_text(ours['acc_at_best_cost'])} | {mean_text(ours['cost_ratio'], 3)} | {mean_text(ours['auc'])} "
        f"| {mean_text(tier1['auc'])} | {best_baseline} {mean_text(figures_of[best_baseline]['auc'])} | {gap} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="shared data folder (default: ../shared/data)"
    )
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--fresh", action="store_true", help="redo runs that have a cached report")
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the previous results file's entries for tables with no cached run (a partial rerun)",
    )
    args = parser.parse_args()
    data_dir = args.data_dir or default_shared_dir() / "data"
    torch.set_num_threads(1)  # see benchmarks/routing.py: the int8 encoder gains nothing from more threads
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    for name in args.tables:
        rows = load_table(name, data_dir)
        for variant in args.variants:
            table = OutcomeTable(rows if variant == "tokens" else costs_only(rows))
            for seed in args.seeds:
                started = time.perf_counter()
                report = run_one(table, name, variant, seed, encoder, args.fresh)
                auc = {p: round(v["auc_normalized"], 4) for p, v in report["policies"].items()}
                print(
                    f"{name} {variant} seed {seed}: {time.perf_counter() - started:.0f} s {auc}",
                    file=sys.stderr,
                    flush=True,
                )
    # The summary covers every cached run, so partial reruns keep the others' results.
    reports = [
        json.loads(path.read_text(encoding="utf-8"))
        for name in TABLES
        for variant in VARIANTS
        for path in sorted((work_root() / name / variant).glob("seed*/report.json"))
    ]
    summary = summarize(reports)
    kept: dict[str, Any] = {}
    previous_file = RESULTS_DIR / "generalization.json"
    if args.keep_previous and previous_file.is_file():
        rerun = {report["table"] for report in reports}
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        kept = {key: entry for key, entry in previous.items() if key.split(" | ")[0] not in rerun}
        summary = dict(sorted({**summary, **kept}.items()))
        if kept:
            print("kept from the previous results: " + ", ".join(sorted(kept)), file=sys.stderr)
    (RESULTS_DIR / "generalization.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (RESULTS_DIR / "generalization.md").write_text(markdown(summary, sorted(kept)), encoding="utf-8")
    print(markdown(summary, sorted(kept)))


if __name__ == "__main__":
    main()
