"""Training time of `emafusion train` (tier 1 and tier 2 separately) on many-member tables.

Run: .venv/bin/python benchmarks/training.py [--skip-synthetic] [--warm-embeddings]
Tables: the whole ../shared/data/mmlu-pro table (3,000 prompts x 29 members, responses and answer letters) and a
synthetic 10,000 x 30 table made here (seeded; answer letters, short worked responses with arithmetic, token
counts and costs), both trained exactly as `emafusion train --outcomes T --out DIR` trains them
(`train_policy`, the default configuration). Embeddings are computed cold (no on-disk cache) unless
--warm-embeddings, so the figure is a first run's.
Targets (issue 20): mmlu-pro <= 3 minutes, tier 2 included; 10,000 x 30 <= 10 minutes.
Writes benchmarks/results/training.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from _data import encoder

from langchain_emafusion.evaluation.converters import default_shared_dir
from langchain_emafusion.evaluation.table import OutcomeRow, read_outcomes, write_outcomes
from langchain_emafusion.evaluation.training import train_policy
from langchain_emafusion.routing.encoder import PromptEncoder

RESULTS = Path(__file__).parent / "results" / "training.md"
LETTERS = "ABCDEFGHIJ"
_WORDS = (
    "invoice contract revenue quarterly margin supplier audit ledger tax refund premium policy claim risk "
    "customer churn forecast latency server memory thread queue cache index shard replica query join "
    "enzyme protein cell membrane voltage current torque velocity acceleration momentum entropy photon "
    "statute tort appeal verdict plaintiff treaty tariff inflation deficit equity bond yield dividend"
).split()


def synthetic_rows(n_prompts: int, n_models: int, *, seed: int = 0) -> list[OutcomeRow]:
    """A seeded outcome table with many members: each model has a skill per task, each prompt a difficulty.

    Answers are option letters (a wrong answer is a random wrong letter, so wrong members agree only by
    chance), responses are short worked answers with an arithmetic step (sometimes wrong when the answer is),
    and costs follow per-model prices x token counts, as in a recorded table.
    """
    rng = np.random.default_rng(seed)
    tasks = [f"task{t}" for t in range(12)]
    skill = rng.normal(0.0, 1.0, size=(n_models, len(tasks))) + rng.normal(0.0, 1.0, size=(n_models, 1))
    price = np.exp(rng.normal(-1.0, 1.5, size=n_models))  # $ per Mtok, spread over two orders of magnitude
    skill += 0.5 * np.log(price)[:, None]  # pricier members are better on average
    rows = []
    for p in range(n_prompts):
        task = int(rng.integers(len(tasks)))
        words = rng.choice(_WORDS, size=int(rng.integers(12, 60)))
        prompt = f"Q{p}: " + " ".join(words) + "?\n" + "\n".join(f"{c}. option {c}" for c in LETTERS)
        reference = LETTERS[int(rng.integers(len(LETTERS)))]
        difficulty = rng.normal(0.0, 1.0)
        for m in range(n_models):
            right = rng.random() < 1.0 / (1.0 + np.exp(-(skill[m, task] - difficulty)))
            answer = reference if right else rng.choice([c for c in LETTERS if c != reference])
            a, b = int(rng.integers(2, 99)), int(rng.integers(2, 99))
            product = a * b if right or rng.random() < 0.5 else a * b + int(rng.integers(1, 9))
            response = f"Let's think step by step. {a} * {b} = {product}. The answer is ({answer})."
            input_tokens, output_tokens = len(prompt) // 4, len(response) // 4
            rows.append(
                OutcomeRow(
                    prompt_id=f"s{p}",
                    prompt=prompt,
                    model=f"model-{m:02d}",
                    score=1.0 if right else 0.0,
                    task=tasks[task],
                    answer=answer,
                    reference=reference,
                    response=response,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost_usd=float(price[m] * (input_tokens + 3 * output_tokens) / 1e6),
                )
            )
    return rows


def timed_train(path: Path, shared_encoder: PromptEncoder) -> dict[str, float | int]:
    """Train as `emafusion train` does; the wall time of each part."""
    started = time.perf_counter()
    table = read_outcomes(path)
    read_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        manifest = train_policy(path, out, encoder=shared_encoder, progress=True)
        total_s = time.perf_counter() - started
    return {
        "prompts": table.n_prompts,
        "models": len(table.models),
        "read_s": read_s,
        "tier1_s": manifest["train_s"]["tier1"],
        "tier2_s": manifest["train_s"]["tier2"],
        "train_s": total_s,
        "strategies": len({s for row in manifest["tier2"]["strategies"].values() for s in row}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-synthetic", action="store_true", help="Only the mmlu-pro table.")
    parser.add_argument(
        "--warm-embeddings", action="store_true", help="Use the on-disk embedding cache (not a first run)."
    )
    args = parser.parse_args()
    shared_encoder = encoder() if args.warm_embeddings else PromptEncoder()
    results: dict[str, dict[str, float | int]] = {}
    results["mmlu-pro (whole table)"] = timed_train(
        default_shared_dir() / "data" / "mmlu-pro" / "outcomes.jsonl.gz", shared_encoder
    )
    print(json.dumps(results, indent=2))
    if not args.skip_synthetic:
        with tempfile.TemporaryDirectory() as folder:
            path = write_outcomes(synthetic_rows(10_000, 30), Path(folder) / "synthetic.jsonl")
            results["synthetic 10,000 x 30"] = timed_train(path, shared_encoder)
        print(json.dumps(results, indent=2))
    targets = {"mmlu-pro (whole table)": 180.0, "synthetic 10,000 x 30": 600.0}
    lines = [
        "# Training time (`emafusion train`, default configuration)",
        "",
        f"Machine: {platform.machine()}, 2 cores; embeddings {'warm (on-disk cache)' if args.warm_embeddings else 'cold'}. "
        "Reproduce: `.venv/bin/python benchmarks/training.py`.",
        "",
        "| table | prompts x models | read s | tier 1 s | tier 2 s | train total s | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['prompts']} x {r['models']} | {r['read_s']:.1f} | {r['tier1_s']:.1f} "
            f"| {r['tier2_s']:.1f} | {r['train_s']:.1f} | {targets[name]:.0f} "
            f"| {'yes' if r['train_s'] <= targets[name] else 'no'} |"
        )
    lines += [
        "",
        "Tier 1: encoding and the predictor's networks. Tier 2: out-of-fold tier-1 predictors (3 folds), each "
        "answer's text signals once, the judge's rows (sparse) and fits, and the replay of every strategy at "
        "every knob on the strategy sample, each fold judged by a judge that never saw it.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
