"""Routing benchmark: every baseline and the project's policy on the shared outcome data, by replay.

    python benchmarks/routing.py            # all three datasets, a few minutes on 2 cores (first run embeds)

Datasets and splits:
- llmrouter (9 models, 14 tasks): the source's own split (train.json 5,608 / test.json 500 questions);
- routellm-mmlu (2 models, 57 subjects) and routellm-gsm8k (2 models): an 80/20 split of the prompts by a
  seeded hash of their ids (``split_outcomes(test_fraction=0.2, seed=0)``).
One split each, with plots: the five-seed comparison on every table (costs-only variants and figures without
train/test repeats included) is ``benchmarks/generalization.py``.
Costs are estimated from token counts and list prices (see ``langchain_emafusion.evaluation.converters``).

Writes ``benchmarks/results/routing.md`` (the table), ``routing_<dataset>.json`` (reports) and
``routing_<dataset>.png`` (plots). Converted tables, policies and embeddings are cached under
``~/.cache/langchain-emafusion`` (or ``$EMAFUSION_CACHE_DIR``), never in the repository.
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

import torch  # noqa: E402
from _report import comparison_lines, report_table  # noqa: E402

from langchain_emafusion.evaluation.converters import (  # noqa: E402
    convert_llmrouter,
    convert_routellm_gsm8k,
    convert_routellm_mmlu,
    default_shared_dir,
)
from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir  # noqa: E402
from langchain_emafusion.evaluation.plot import plot_report  # noqa: E402
from langchain_emafusion.evaluation.table import OutcomeTable, split_outcomes, write_outcomes  # noqa: E402
from langchain_emafusion.evaluation.training import train_policy  # noqa: E402
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402

DATASETS = ("llmrouter", "routellm-mmlu", "routellm-gsm8k")
SPLIT_SEED = 0
TEST_FRACTION = 0.2
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def cache_root() -> Path:
    return cache_dir() / "benchmarks"


def build_split(name: str, data_dir: Path) -> tuple[OutcomeTable, OutcomeTable, str]:
    if name == "llmrouter":
        train = OutcomeTable(convert_llmrouter(data_dir, split="train"))
        test = OutcomeTable(convert_llmrouter(data_dir, split="test"))
        return train, test, "source split (train.json / test.json)"
    rows = convert_routellm_mmlu(data_dir) if name == "routellm-mmlu" else convert_routellm_gsm8k(data_dir)
    train, test = split_outcomes(OutcomeTable(rows), test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    return train, test, f"hash of prompt_id {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, seed {SPLIT_SEED}"


def run_dataset(name: str, data_dir: Path, encoder: PromptEncoder) -> dict[str, Any]:
    work = cache_root() / name
    train, test, split = build_split(name, data_dir)
    train_path = write_outcomes(train, work / "train.jsonl")
    test_path = write_outcomes(test, work / "test.jsonl")
    train_policy(train_path, work / "policy", seed=0, encoder=encoder, progress=True)
    report = evaluate_policy_dir(test_path, work / "policy", baselines=True, encoder=encoder, progress=True)
    report["dataset"] = name
    report["split"] = split
    report["n_train_prompts"] = train.n_prompts
    train_texts = set(train.prompts)
    report["n_test_prompts_also_in_train"] = sum(prompt in train_texts for prompt in test.prompts)
    (RESULTS_DIR / f"routing_{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_report(report, RESULTS_DIR / f"routing_{name}.png", title=f"{name}: cost vs accuracy ({split})")
    return report


def markdown(reports: list[dict[str, Any]]) -> str:
    lines = [
        "# Routing benchmark (replay on the shared outcome data)",
        "",
        "Regenerate with `python benchmarks/routing.py` (needs the `ml` extra; embeddings are cached on disk).",
        "Figures as in `../shared/docs/EVALUATION.md`, on the test split only; costs are *estimated* US$ per prompt",
        "(token estimate × list prices, see `langchain_emafusion/evaluation/converters.py`). `acc @ best cost`:",
        "best frontier accuracy at ≤ the best single model's cost; `cost ratio`: cheapest frontier cost reaching",
        "the best single model's accuracy ÷ its cost; `AUC`: normalized area under the frontier's upper envelope",
        "between the cheapest and the best single model's cost. `emafusion` is the whole system `emafusion train`",
        "saves (tier 1's predictor and budget-aware selector, then tier 2's learned strategy: single, cascade or",
        "escalation with judges, weighted vote or selection); `tier1` is its routing-only half, from the same",
        "training run. Intervals: 95% bootstrap over the test prompts (300 resamples).",
    ]
    for report in reports:
        best = report["best_single_model"]
        lines += [
            "",
            f"## {report['dataset']}",
            "",
            f"{report['n_train_prompts']} train / {report['n_prompts']} test prompts; split: {report['split']}; "
            f"{report['n_test_prompts_also_in_train']} test prompts also appear verbatim in train; "
            f"best single model: `{best}`.",
            "",
            *report_table(report),
        ]
        comparison = comparison_lines(report)
        if comparison:
            lines += ["", *comparison]
        if report.get("baselines_skipped"):
            lines.append("")
            lines.append(
                f"Not applicable here: {', '.join(report['baselines_skipped'])} (no answer keys to vote on)."
            )
        lines += ["", f"![{report['dataset']}](routing_{report['dataset']}.png)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="shared data folder (default: ../shared/data)"
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    args = parser.parse_args()
    data_dir = args.data_dir or default_shared_dir() / "data"
    # One thread: the int8 encoder embeds one text at a time, where extra threads only spin (and on a busy
    # 2-core machine they slow it down several times over).
    torch.set_num_threads(1)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    started = time.perf_counter()
    reports = []
    for name in args.datasets:
        dataset_started = time.perf_counter()
        reports.append(run_dataset(name, data_dir, encoder))
        print(f"{name}: {time.perf_counter() - dataset_started:.0f} s", file=sys.stderr)
    # A run of some datasets keeps the others' last results in routing.md (their JSON files are untouched).
    rerun = {report["dataset"]: report for report in reports}
    everything = []
    for name in DATASETS:
        saved = RESULTS_DIR / f"routing_{name}.json"
        if name in rerun:
            everything.append(rerun[name])
        elif saved.is_file():
            everything.append(json.loads(saved.read_text(encoding="utf-8")))
    (RESULTS_DIR / "routing.md").write_text(markdown(everything), encoding="utf-8")
    print(markdown(reports))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
