"""`emafusion train` / `eval` / `convert` round trip through Typer's test runner, on a small table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from langchain_emafusion.cli.evaluation_commands import register
from langchain_emafusion.evaluation.table import read_outcomes, write_outcomes

from .helpers import specialist_table


def make_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_train_then_eval_with_baselines_and_plot(tmp_path: Path) -> None:
    train = write_outcomes(specialist_table(32), tmp_path / "train.jsonl")
    test = write_outcomes(specialist_table(6, offset=50), tmp_path / "test.jsonl")
    app, runner = make_app(), CliRunner()
    cache = ["--embedding-cache", str(tmp_path / "cache")]

    trained = runner.invoke(
        app, ["train", "--outcomes", str(train), "--out", str(tmp_path / "policy"), "--seed", "3", *cache]
    )
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((tmp_path / "policy" / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["train_table"]["n_prompts"] == 64
    assert [card["name"] for card in manifest["cards"]] == ["math-small", "history-small", "large"]
    # Tier 1's router blend was chosen out of fold on the training table; the manifest says what and why.
    router = manifest["router"]
    assert "tier-1 router chosen out of fold" in trained.output
    assert sum(router["chosen"].values()) == pytest.approx(1.0)
    assert router["out_of_fold"]["auc"] >= max(f["out_of_fold"]["auc"] for f in router["families"].values())
    assert read_outcomes(tmp_path / "policy" / "train_outcomes.jsonl").rows == read_outcomes(train).rows

    report_path, plot_path = tmp_path / "out" / "report.json", tmp_path / "out" / "plot.png"
    evaluated = runner.invoke(
        app,
        [
            "eval",
            "--outcomes",
            str(test),
            "--policy",
            str(tmp_path / "policy"),
            "--baselines",
            "--report",
            str(report_path),
            "--plot",
            str(plot_path),
            *cache,
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(report_path.read_text())
    assert report["n_prompts"] == 12
    assert list(report["policies"]) == [
        "emafusion",
        "tier1",
        "random",
        "knn-router",
        "linear-router",
        "cascade",
    ]
    assert report["emafusion_vs_tier1"]["ci95_low"] <= report["emafusion_vs_tier1"]["auc_difference"]
    against = report["vs_best_baseline"]
    assert against["baseline"] in {"random", "knn-router", "linear-router", "cascade"}
    best_baseline_auc = report["policies"][against["baseline"]]["auc_normalized"]
    assert against["tier1"]["auc_difference"] == pytest.approx(
        report["policies"]["tier1"]["auc_normalized"] - best_baseline_auc
    )
    assert (
        "emafusion − tier1 AUC" in evaluated.output
        and f"tier1 − {against['baseline']} AUC" in evaluated.output
    )
    assert report["policies"]["emafusion"]["accuracy_at_best_single_cost"] == 1.0
    assert report["baselines_skipped"] == ["majority-vote"]
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((tmp_path / "cache").glob("*.npy"))  # the 64 training prompts were cached on disk

    # Without --baselines only the trained system and its routing-only half are replayed.
    alone = runner.invoke(
        app,
        ["eval", "--outcomes", str(test), "--policy", str(tmp_path / "policy"), "--report", str(report_path)],
    )
    assert alone.exit_code == 0, alone.output
    assert list(json.loads(report_path.read_text())["policies"]) == ["emafusion", "tier1"]
    assert "vs_best_baseline" not in json.loads(report_path.read_text())


def test_eval_reports_a_bad_table_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": "p", "prompt": "x", "model": "m", "score": 2}\n')
    result = CliRunner().invoke(
        make_app(), ["train", "--outcomes", str(bad), "--out", str(tmp_path / "p"), "--no-embedding-cache"]
    )
    assert result.exit_code == 2
    assert "line 1" in result.output and "score" in result.output


def test_convert_gsm8k(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "gsm8k.jsonl"
    result = CliRunner().invoke(
        make_app(), ["convert", "routellm-gsm8k", "--data-dir", str(shared_dir / "data"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = read_outcomes(out)
    assert table.n_prompts == 1319 and table.has_answers


def test_eval_refuses_a_table_with_other_models(tmp_path: Path) -> None:
    train = write_outcomes(specialist_table(32), tmp_path / "train.jsonl")
    other = specialist_table(2)
    renamed = [row.model_copy(update={"model": row.model.replace("large", "huge")}) for row in other.rows]
    test = write_outcomes(renamed, tmp_path / "test.jsonl")
    app, runner = make_app(), CliRunner()
    assert (
        runner.invoke(
            app, ["train", "--outcomes", str(train), "--out", str(tmp_path / "p"), "--no-embedding-cache"]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "eval",
            "--outcomes",
            str(test),
            "--policy",
            str(tmp_path / "p"),
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 2
    assert "differ from the models the policy was trained on" in result.output
