"""Synthesis figures: throughput of `emafusion synth` on the embedded pool and the replay of the trained system.

    python benchmarks/default_predictor.py   # first: synthesizes, splits and trains (the slow part)
    python benchmarks/synthesis.py           # then: figures from its work folder (a minute: MiniLM + replay)
    python benchmarks/synthesis.py --work-dir DIR --out FILE.md   # a run made with ``default_predictor.py --work-dir DIR``

Throughput is model time per answer, from each row's ``latency_s`` (the wall time of that call; local
llama.cpp calls run one at a time, so these add up to the run's model time). The replay follows
``../shared/docs/EVALUATION.md`` on the held-out prompts only: every single model, the oracle, the trained
system ("emafusion", the policy in the work folder, i.e. the shipped default predictor with its selector) and
every baseline, fitted on the same training part. Costs are the notional compute prices of
``benchmarks/default_predictor.py``. It also routes each held-out prompt with the registered
``"emafusion-default"`` router over the real embedded pool cards (free members: it picks the best predicted
quality) and scores the member it picks, when the work folder is the one the shipped predictor came from.
Last, it repeats the training and replay on ``--other-splits`` more seeded splits of the same table, since one
prompt of a few dozen held-out ones moves a figure by a few points.

Writes ``benchmarks/results/synthesis.md`` (or ``--out``); the JSON report stays in the work folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from _report import comparison_lines, fmt, report_table  # noqa: E402
from default_predictor import SHIPPED_FEATURES, SHIPPED_TRAINING  # noqa: E402

from langchain_emafusion.evaluation.converters import estimate_tokens  # noqa: E402
from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir  # noqa: E402
from langchain_emafusion.evaluation.table import (  # noqa: E402
    OutcomeTable,
    read_outcomes,
    split_outcomes,
    write_outcomes,
)
from langchain_emafusion.evaluation.training import train_policy  # noqa: E402
from langchain_emafusion.pool.embedded import default_embedded_pool  # noqa: E402
from langchain_emafusion.pool.weights import DEFAULT_EMBEDDED_MODELS, cache_dir  # noqa: E402
from langchain_emafusion.routing.base import RoutingRequest  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402
from langchain_emafusion.routing.registry import get_router  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "synthesis.md"
SHIPPED = REPO_ROOT / "langchain_emafusion" / "tier1" / "default_predictor"


def throughput(table: OutcomeTable) -> list[dict[str, Any]]:
    """Per model: answers, model time, prompts per minute, output tokens per second, latency percentiles."""
    rows_by_model: dict[str, list[Any]] = defaultdict(list)
    for row in table.rows:
        if row.latency_s is not None:
            rows_by_model[row.model].append(row)
    figures = []
    for model in table.models:
        rows = rows_by_model[model]
        latencies = sorted(row.latency_s for row in rows)
        seconds = sum(latencies)
        tokens = sum(row.output_tokens or 0 for row in rows)
        figures.append(
            {
                "model": model,
                "answers": len(rows),
                "model_time_s": seconds,
                "prompts_per_min": 60 * len(rows) / seconds,
                "output_tokens_per_s": tokens / seconds,
                "mean_output_tokens": tokens / len(rows),
                "p50_s": statistics.median(latencies),
                "p95_s": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
            }
        )
    return figures


def accuracy_by_task(table: OutcomeTable) -> dict[str, dict[str, float]]:
    """Mean score per task type and model, over the whole synthesized table."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p, task in enumerate(table.tasks):
        for m, model in enumerate(table.models):
            sums[str(task)][model].append(float(table.scores[p, m]))
    return {
        task: {model: statistics.fmean(v) for model, v in models.items()}
        for task, models in sorted(sums.items())
    }


def default_router_replay(test: OutcomeTable, members: tuple[str, ...]) -> dict[str, Any]:
    """Route each held-out prompt with "emafusion-default" over these embedded members' cards; score its pick.

    Also returns the best of these members alone and their oracle on the same prompts, for comparison.
    """
    pool = default_embedded_pool(members)
    router = get_router("emafusion-default")
    picks: dict[str, int] = defaultdict(int)
    score = 0.0
    started = time.perf_counter()
    for p, prompt in enumerate(test.prompts):
        decision = router.route(RoutingRequest(prompt=prompt, input_tokens=estimate_tokens(prompt)), pool)
        chosen = decision.models[0]
        picks[chosen] += 1
        score += float(test.scores[p, test.models.index(chosen)])
    columns = [test.models.index(name) for name in members]
    alone = {name: float(test.scores[:, c].mean()) for name, c in zip(members, columns, strict=True)}
    best = max(alone, key=lambda name: alone[name])
    return {
        "members": list(members),
        "accuracy": score / test.n_prompts,
        "best_member": best,
        "best_member_accuracy": alone[best],
        "oracle_accuracy": float(test.scores[:, columns].max(axis=1).mean()),
        "picks": dict(picks),
        "seconds_per_decision": (time.perf_counter() - started) / test.n_prompts,
    }


def other_splits(
    table: OutcomeTable,
    work: Path,
    *,
    seeds: list[int],
    test_fraction: float,
    training_seed: int,
    encoder: PromptEncoder,
) -> list[dict[str, Any]]:
    """The same training and replay on other seeded splits of the table: how much of a figure is the split's."""
    runs = []
    for seed in seeds:
        folder = work / "splits" / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        train, test = split_outcomes(table, test_fraction=test_fraction, seed=seed)
        write_outcomes(train, folder / "train.jsonl")
        write_outcomes(test, folder / "test.jsonl")
        train_policy(
            folder / "train.jsonl",
            folder / "policy",
            seed=training_seed,
            encoder=encoder,
            features=SHIPPED_FEATURES,
            training=SHIPPED_TRAINING,
        )
        report = evaluate_policy_dir(
            folder / "test.jsonl", folder / "policy", baselines=True, encoder=encoder
        )
        report["split_seed"] = seed
        runs.append(report)
    return runs


def splits_table(runs: list[dict[str, Any]]) -> list[str]:
    """One row per split: best single model, oracle, ours at its cost, AUCs against the best baseline."""
    lines = [
        "| split seed | best single (acc) | oracle | emafusion acc @ best cost | tier1 acc @ best cost "
        "| emafusion AUC | tier1 AUC | best baseline AUC | tier-2 strategies chosen |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for report in runs:
        best = report["best_single_model"]
        ours, tier1 = report["policies"]["emafusion"], report["policies"]["tier1"]
        baseline = report["vs_best_baseline"]["baseline"]
        chosen = sorted(set(report["policy_manifest"].get("tier2", {}).get("strategies", {}).get("*", [])))
        lines.append(
            f"| {report['split_seed']} | `{best}` {report['models'][best]['accuracy']:.4f} "
            f"| {report['oracle']['accuracy']:.4f} | {fmt(ours['accuracy_at_best_single_cost'])} "
            f"| {fmt(tier1['accuracy_at_best_single_cost'])} | {ours['auc_normalized']:.4f} "
            f"| {tier1['auc_normalized']:.4f} | {baseline} {report['policies'][baseline]['auc_normalized']:.4f} "
            f"| {', '.join(chosen)} |"
        )

    def mean(values: list[float | None]) -> str:
        return "never" if None in values else f"{statistics.fmean(v for v in values if v is not None):.4f}"

    def column(policy: str, key: str) -> list[float | None]:
        return [report["policies"][policy][key] for report in runs]

    lines.append(
        f"| mean | {mean([r['models'][r['best_single_model']]['accuracy'] for r in runs])} "
        f"| {mean([r['oracle']['accuracy'] for r in runs])} "
        f"| {mean(column('emafusion', 'accuracy_at_best_single_cost'))} "
        f"| {mean(column('tier1', 'accuracy_at_best_single_cost'))} "
        f"| {mean(column('emafusion', 'auc_normalized'))} | {mean(column('tier1', 'auc_normalized'))} "
        f"| each split's best {mean([r['policies'][r['vs_best_baseline']['baseline']]['auc_normalized'] for r in runs])} | |"
    )
    return lines


def markdown(
    table: OutcomeTable,
    test: OutcomeTable,
    report: dict[str, Any],
    speed: list[dict[str, Any]],
    by_task: dict[str, dict[str, float]],
    shipped: list[dict[str, Any]] | None,
    work: Path,
    provenance: dict[str, Any],
    splits: list[dict[str, Any]],
) -> str:
    prompts = [json.loads(line) for line in (work / "outcomes.jsonl.prompts.jsonl").open(encoding="utf-8")]
    statuses: dict[str, int] = defaultdict(int)
    for record in prompts:
        if record["paraphrase"]:
            statuses[record["paraphrase_status"].split(":")[0]] += 1
    shipped_note = (
        "(synthesis, split, training, shipped artefact)"
        if shipped is not None
        else f"`--work-dir {work.name} --no-ship` ({', '.join(table.models)}; the shipped predictor is left alone)"
    )
    both = sum(item["model_time_s"] for item in speed)
    lines = [
        "# Synthesis on the embedded pool",
        "",
        f"Regenerate: `python benchmarks/default_predictor.py` {shipped_note}, then",
        "`python benchmarks/synthesis.py` with the same work folder (these figures). Starter seed set, seed "
        f"{provenance['seed']}, answers capped at {provenance['max_tokens']} tokens, greedy decoding, one llama.cpp "
        "thread per model, calls one at a time, on a shared 2-core machine (other jobs ran beside it).",
        "",
        f"## Throughput ({table.n_prompts} prompts x {len(table.models)} models, {both / 60:.1f} min of model time)",
        "",
        "| model | answers | model time | prompts/min | output tok/s | mean output tokens | p50 s | p95 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for item in speed:
        lines.append(
            f"| `{item['model']}` | {item['answers']} | {item['model_time_s'] / 60:.1f} min | "
            f"{item['prompts_per_min']:.1f} | {item['output_tokens_per_s']:.1f} | {item['mean_output_tokens']:.0f} "
            f"| {item['p50_s']:.2f} | {item['p95_s']:.2f} |"
        )
    lines += [
        f"| whole pool (every model on every prompt) | {table.n_prompts} prompts | {both / 60:.1f} min "
        f"| {60 * table.n_prompts / both:.1f} | | | | |",
        "",
        "Paraphrasing (Qwen2.5-Coder-0.5B as helper): "
        + (", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "none chosen")
        + (
            ". The 0.5B helper copied the request or answered it instead of rewording it, so every paraphrase was "
            "rejected by the value/number checks and the original prompt kept."
            if statuses and "accepted" not in statuses
            else "."
        ),
        "",
        "## Accuracy per task type (whole table)",
        "",
        "| task | prompts | " + " | ".join(f"`{m}`" for m in table.models) + " |",
        "|---|---:|" + "---:|" * len(table.models),
    ]
    counts: dict[str, int] = defaultdict(int)
    for task in table.tasks:
        counts[str(task)] += 1
    for task, models in by_task.items():
        lines.append(
            f"| {task} | {counts[task]} | " + " | ".join(f"{models[m]:.2f}" for m in table.models) + " |"
        )
    best, oracle = report["best_single_model"], report["oracle"]
    lines += [
        "",
        f"## Replay on the held-out prompts ({test.n_prompts} test / {provenance['n_train_prompts']} train, "
        f"split by prompt, seed {provenance['seed']})",
        "",
        "Costs: notional compute prices (see `benchmarks/default_predictor.py`). `acc @ best cost`, `cost ratio`",
        "and `AUC` as in `../shared/docs/EVALUATION.md` (`benchmarks/results/routing.md` explains them).",
        "",
        *report_table(report),
        "",
        *comparison_lines(report),
    ]
    if report.get("baselines_skipped"):
        lines += ["", f"Not applicable: {', '.join(report['baselines_skipped'])}."]
    best_index = test.models.index(best)
    only_other = sum(
        1
        for p in range(test.n_prompts)
        if test.scores[p, best_index] < 1
        and any(test.scores[p, m] == 1 for m in range(len(test.models)) if m != best_index)
    )
    if shipped is not None:
        lines += [
            "",
            '## The shipped router ("emafusion-default") on the real embedded pool',
            "",
            "The embedded members are free, so it takes the member with the best predicted chance of a good answer. "
            "Held-out prompts, routed over the members' real cards:",
            "",
            "| pool | accuracy | best member alone | oracle of the pool | picks | ms per decision |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for run in shipped:
            picks = ", ".join(f"`{model}` {count}" for model, count in sorted(run["picks"].items()))
            lines.append(
                f"| {', '.join(run['members'])} | {run['accuracy']:.4f} | `{run['best_member']}` "
                f"{run['best_member_accuracy']:.4f} | {run['oracle_accuracy']:.4f} | {picks} "
                f"| {1000 * run['seconds_per_decision']:.1f} |"
            )
    lines += [
        "",
        f"Reading: on the {test.n_prompts} held-out prompts, {only_other} are answered right only by another "
        f"model than `{best}`, so the oracle gains {oracle['accuracy'] - report['models'][best]['accuracy']:.4f} "
        "over it and no router can be more accurate than the oracle; one prompt is "
        f"{1 / test.n_prompts:.3f} of accuracy, so policies within a prompt or two of each other are not told "
        "apart by this split.",
    ]
    if splits:
        lines += [
            "",
            "## The same on other splits",
            "",
            f"Training and replay repeated on {len(splits)} more seeded {test.n_prompts}-prompt splits of the same "
            "table (same settings; the split seed is the only change), to show how much of the figures above is "
            "the split's:",
            "",
            *splits_table([{**report, "split_seed": provenance["seed"]}, *splits]),
        ]
    if shipped is not None:
        size_kb = sum(path.stat().st_size for path in SHIPPED.iterdir()) // 1024
        lines += ["", f"Artefact: `langchain_emafusion/tier1/default_predictor/` ({size_kb} KB)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Compute the figures from the work folder of ``benchmarks/default_predictor.py``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=cache_dir() / "default-predictor")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the markdown file to write")
    parser.add_argument(
        "--other-splits",
        type=int,
        default=4,
        help="repeat training and replay on this many other split seeds",
    )
    args = parser.parse_args()
    work: Path = args.work_dir
    table = read_outcomes(work / "outcomes.jsonl")
    test = read_outcomes(work / "test.jsonl")
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    report = evaluate_policy_dir(work / "test.jsonl", work / "policy", baselines=True, encoder=encoder)
    (work / "replay_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    # The shipped router is scored only on the held-out prompts of the run that trained it.
    provenance = json.loads((work / "provenance.json").read_text(encoding="utf-8"))
    ours = provenance["train_table_sha256"]
    theirs = json.loads((SHIPPED / "provenance.json").read_text(encoding="utf-8"))["train_table_sha256"]
    member_sets = [DEFAULT_EMBEDDED_MODELS, tuple(table.models)]
    shipped = (
        [default_router_replay(test, members) for members in dict.fromkeys(member_sets)]
        if ours == theirs
        else None
    )
    seeds = [provenance["seed"] + i for i in range(1, args.other_splits + 1)]
    splits = other_splits(
        table,
        work,
        seeds=seeds,
        test_fraction=provenance["test_fraction"],
        training_seed=provenance["seed"],
        encoder=encoder,
    )
    text = markdown(
        table, test, report, throughput(table), accuracy_by_task(table), shipped, work, provenance, splits
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
