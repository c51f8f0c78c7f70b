from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from langchain_emafusion.cli import app
from langchain_emafusion.cli.errors import error_exit

POOL = """
models:
  - name: parrot
    type: import
    class: langchain_core.language_models.fake_chat_models.FakeListChatModel
    kwargs: {responses: ["Paris is the capital of France."]}
    input_price: 1.0
    output_price: 2.0
"""


def test_chat_prints_answer_and_routing(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(POOL)
    result = CliRunner().invoke(app, ["chat", "--pool", str(pool), "Capital of France?"])
    assert result.exit_code == 0, result.output
    assert "Paris is the capital of France." in result.output
    assert "router=cheapest" in result.output and "models=parrot" in result.output
    assert "total cost $" in result.output


def test_chat_json_output(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(POOL)
    result = CliRunner().invoke(app, ["chat", "--pool", str(pool), "--json", "Capital of France?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "Paris is the capital of France."
    assert data["fusion"]["models"] == ["parrot"] and data["fusion"]["cost_usd"] > 0


def test_chat_bad_pool_is_a_clear_error(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text("models:\n  - {name: a, type: openai}\n")
    result = CliRunner().invoke(app, ["chat", "--pool", str(pool), "hi"])
    assert result.exit_code == 2
    assert "field 'model'" in result.output


def test_error_exit_prints_the_error_line_and_returns_exit_code_2() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40)
    cause = ValueError("boom")
    with pytest.raises(typer.Exit) as caught:
        raise error_exit(
            console, "a [bold]long[/bold] message that wraps at forty columns", soft_wrap=True
        ) from cause
    assert caught.value.exit_code == 2 and caught.value.__cause__ is cause
    assert out.getvalue() == "error: a long message that wraps at forty columns\n"
    message = "a long message that wraps at forty columns, by default"
    error_exit(console, message)  # as console.print of the same markup with the console's defaults
    expected = io.StringIO()
    Console(file=expected, width=40).print(f"[red]error:[/red] {message}")
    assert out.getvalue().endswith("\n" + expected.getvalue()) and expected.getvalue().count("\n") == 2
