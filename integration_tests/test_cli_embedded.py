"""The installed `emafusion` console script answering on the embedded local pool (a real process and model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def emafusion() -> str:
    found = shutil.which("emafusion") or str(Path(sys.executable).with_name("emafusion"))
    assert Path(found).exists(), "the emafusion console script is not installed (pip install -e .)"
    return found


def test_chat_on_the_embedded_pool_prints_answer_and_routing() -> None:
    done = subprocess.run(
        [emafusion(), "chat", "--json", "--max-tokens", "24", "Name the capital of Italy in one word."],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    data = json.loads(done.stdout)
    assert "rome" in data["answer"].lower()
    # The default router ("auto") routes the embedded members with the shipped learned predictor.
    assert data["fusion"]["router"] == "emafusion-default" and data["fusion"]["reason"].startswith("auto:")
    assert len(data["fusion"]["models"]) == 1 and data["fusion"]["models"][0] in data["fusion"]["scores"]
    assert data["usage"]["output_tokens"] > 0 and data["fusion"]["calls"][0]["input_tokens"] > 0


def test_chat_with_a_bad_pool_file_exits_2_with_the_field(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text("models:\n  - {name: a, type: llamacpp, embedded: gpt-9}\n")
    done = subprocess.run(
        [emafusion(), "chat", "--pool", str(pool), "hi"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "field 'embedded'" in done.stdout + done.stderr
