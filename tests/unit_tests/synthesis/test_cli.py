"""`emafusion synth` as a real process (killed with SIGKILL mid-run, then resumed) and `train`/`eval` on its output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from langchain_emafusion.cli.evaluation_commands import register as register_evaluation
from langchain_emafusion.cli.synthesis_commands import register as register_synthesis
from langchain_emafusion.evaluation.table import read_outcomes, split_outcomes, write_outcomes
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.synthesis import SynthesisRunner, expand_templates, load_seed_templates

from .lookup_model import LookupChatModel

REPO_ROOT = Path(__file__).resolve().parents[3]
EMAFUSION = Path(sys.executable).with_name("emafusion")
POOL = """
models:
  - {name: fixed, type: import, class: tests.unit_tests.fakes.ScriptedChatModel,
     kwargs: {reply: "Answer: 42. billing", delay_s: 0.08}, input_price: 0.1, output_price: 0.2}
  - {name: echo, type: import, class: tests.unit_tests.fakes.ScriptedChatModel,
     kwargs: {echo: true, delay_s: 0.12}, input_price: 1.0, output_price: 2.0}
"""


def synth_command(tmp_path: Path, out: Path) -> list[str]:
    return [
        str(EMAFUSION), "synth", "--pool", str(tmp_path / "pool.yaml"), "--n", "44", "--out", str(out),
        "--concurrency", "2", "--no-progress",
    ]  # fmt: skip


def comparable(path: Path) -> list[tuple[object, ...]]:
    table = read_outcomes(path)  # also checks: no duplicate, none missing
    return sorted(
        (r.prompt_id, r.model, r.prompt, r.score, r.response, r.answer, r.reference) for r in table.rows
    )


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(POOL, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "killed.jsonl"
    process = subprocess.Popen(synth_command(tmp_path, out), cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 12):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    written_before = out.read_bytes().count(b"\n")
    assert 12 <= written_before < 88, "the kill must land mid-run"

    resumed = subprocess.run(
        synth_command(tmp_path, out), cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert f"{written_before} already there" in " ".join(resumed.stderr.decode().split())

    reference = tmp_path / "uninterrupted.jsonl"
    whole = subprocess.run(
        synth_command(tmp_path, reference), cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert whole.returncode == 0, whole.stderr.decode()
    assert comparable(out) == comparable(reference)
    assert len(read_outcomes(out).rows) == 88


def test_bad_template_file_is_a_clear_cli_error(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(POOL, encoding="utf-8")
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("templates:\n  - id: x\n    task: arithmetic\n    prompt: '{a}'\n", encoding="utf-8")
    app = typer.Typer()
    register_synthesis(app)
    result = CliRunner().invoke(
        app,
        [
            "--templates",
            str(seeds),
            "--pool",
            str(tmp_path / "pool.yaml"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert "template 'x'" in " ".join(result.output.split())


def test_train_and_eval_work_on_a_synthesized_table(tmp_path: Path) -> None:
    prompts = expand_templates(load_seed_templates(), n=44, seed=0)
    numbers = {p.prompt: f"Answer: {p.reference}" for p in prompts if p.checks[0].answer_type == "number"}
    labels = {p.prompt: str(p.reference) for p in prompts if p.checks[0].answer_type == "label"}
    pool = ModelPool(
        [
            ModelCard(
                name="numbers", model=LookupChatModel(answers=numbers), input_price=0.1, output_price=0.2
            ),
            ModelCard(
                name="labels", model=LookupChatModel(answers=labels), input_price=1.0, output_price=2.0
            ),
        ]
    )
    synthesized = tmp_path / "synth.jsonl"
    SynthesisRunner(pool=pool, prompts=prompts, out=synthesized, progress=False).run()
    train, test = split_outcomes(read_outcomes(synthesized), test_fraction=0.25, seed=0)
    write_outcomes(train, tmp_path / "train.jsonl")
    write_outcomes(test, tmp_path / "test.jsonl")

    app = typer.Typer()
    register_evaluation(app)
    cache = ["--embedding-cache", str(tmp_path / "embeddings")]
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", "--outcomes", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "policy"), *cache]
    )
    assert trained.exit_code == 0, trained.output
    report = tmp_path / "report.json"
    evaluated = runner.invoke(
        app,
        ["eval", "--outcomes", str(tmp_path / "test.jsonl"), "--policy", str(tmp_path / "policy"), "--baselines",
         "--report", str(report), *cache],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(report.read_text())
    assert figures["n_prompts"] == test.n_prompts and set(figures["models"]) == {"numbers", "labels"}
    assert "emafusion" in figures["policies"] and "majority-vote" in figures["policies"]
