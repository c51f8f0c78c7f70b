"""Cookbook: train the router on your own outcomes, evaluate it by replay and read the frontier plot.

Run: .venv/bin/python cookbook/train_on_your_outcomes.py [OUT_DIR]

Your outcomes are an outcome table (JSON Lines, one row per prompt × model: the prompt, the model, a score in
[0, 1], optionally cost, tokens and task; format in ../shared/docs/EVALUATION.md). Here a small slice of the
public llmrouter data (9 open models) stands in for them: it is read at run time from ``../shared/data``
beside the repository (``EMAFUSION_SHARED_DIR`` overrides) through the converter, never copied into the repo.

The same steps from a shell:

    emafusion convert llmrouter --split train --out train.jsonl
    emafusion train --outcomes train.jsonl --out policy/
    emafusion eval --outcomes test.jsonl --policy policy/ --report report.json --plot frontier.png [--baselines]
    emafusion calibrate --policy policy/ --target-accuracy 0.6     # knob -> expected accuracy, $ per 1,000

Reading the plot (x: mean $ per prompt, log scale; y: accuracy on the test slice): each dot is one model used
alone (the starred one is the most accurate), the cross is the oracle (the cheapest right model for every
prompt, unreachable), and each line is a policy's frontier, swept over its cost/quality knob (``--baselines``
adds the kNN and linear routers, the cascade and random). A frontier above and to the left of the best single
model gets its accuracy for less; the report condenses that into three numbers per policy (accuracy at the best
single model's cost, the cost ratio to reach its accuracy, and the normalized area under the frontier).
The trained folder is also a live router: ``FusionChatModel(pool=..., router="policy/")``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain_emafusion import FusionChatModel
from langchain_emafusion.evaluation import read_outcomes, write_outcomes
from langchain_emafusion.evaluation.converters import convert_llmrouter, default_shared_dir
from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir
from langchain_emafusion.evaluation.plot import plot_report
from langchain_emafusion.evaluation.training import train_policy

N_TRAIN_PROMPTS = 200
N_TEST_PROMPTS = 80


def first_prompts(rows: list[Any], n: int) -> list[Any]:
    """The rows of the first ``n`` prompts (every model's row for each)."""
    keep: list[str] = []
    for row in rows:
        if row.prompt_id not in keep:
            if len(keep) == n:
                break
            keep.append(row.prompt_id)
    chosen = set(keep)
    return [row for row in rows if row.prompt_id in chosen]


def fmt(value: float | None, digits: int = 4) -> str:
    return "never" if value is None else f"{value:.{digits}f}"


def main(out_dir: str | Path | None = None) -> dict[str, Any]:
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="emafusion-cookbook-"))
    out.mkdir(parents=True, exist_ok=True)
    data = default_shared_dir() / "data"

    # 1. Your outcomes as outcome tables (a train and a test slice).
    train_path = write_outcomes(
        first_prompts(convert_llmrouter(data, "train"), N_TRAIN_PROMPTS), out / "train.jsonl"
    )
    test_path = write_outcomes(
        first_prompts(convert_llmrouter(data, "test"), N_TEST_PROMPTS), out / "test.jsonl"
    )

    # 2. `emafusion train`: fit the tier-1 predictor and save it with its manifest.
    manifest = train_policy(train_path, out / "policy", seed=0)
    print(
        f"trained on {manifest['train_table']['n_prompts']} prompts x {len(manifest['train_table']['models'])} models"
    )

    # 3. `emafusion eval --plot`: replay it on the test slice at every knob setting (add baselines=True, as
    #    `--baselines` does, to replay the kNN / linear routers, the cascade and random too: a few minutes more).
    report = evaluate_policy_dir(test_path, out / "policy", baselines=False)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot = plot_report(report, out / "frontier.png", title="llmrouter slice: cost vs accuracy")

    # 4. Read the figures behind the plot.
    best = report["best_single_model"]
    best_figures = report["models"][best]
    print(
        f"best single model: {best} accuracy {best_figures['accuracy']:.4f} at ${best_figures['cost_usd']:.2e}/prompt"
    )
    print(
        f"oracle: accuracy {report['oracle']['accuracy']:.4f} at ${report['oracle']['cost_usd']:.2e}/prompt"
    )
    print(f"{'policy':<16}{'acc @ best cost':>16}{'cost ratio':>12}{'AUC':>8}")
    for name, figures in report["policies"].items():
        print(
            f"{name:<16}{fmt(figures['accuracy_at_best_single_cost']):>16}"
            f"{fmt(figures['cost_ratio_to_best_single_accuracy'], 3):>12}{fmt(figures['auc_normalized']):>8}"
        )
    print(f"plot: {plot}")

    # 5. Targets instead of knobs (`emafusion calibrate --policy policy/ --target-accuracy X` prints the table):
    #    the cheapest knob expected to reach the best single model's training accuracy, read off the curve
    #    `emafusion train` saved (the whole system's out-of-fold figures on the training table). Nothing is
    #    loaded but the manifest; the same model routes a pool of these members live.
    goal = float(read_outcomes(train_path).scores.mean(axis=0).max())
    llm = FusionChatModel(router=out / "policy", target_accuracy=goal)
    target = llm.target
    assert target is not None
    tested = next(p for p in report["policies"]["emafusion"]["frontier"] if p["setting"] == target.knob)
    print(
        f"target accuracy >= {goal:.4f}: knob {target.knob:g}, expected {target.expected_accuracy:.4f} at "
        f"${target.expected_cost_usd:.2e}/prompt ({'met' if target.met else 'not met'} on the curve); "
        f"on the test slice {tested['accuracy']:.4f} at ${tested['cost_usd']:.2e}/prompt"
    )
    return {"out": out, "manifest": manifest, "report": report, "plot": Path(plot), "target": target}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
