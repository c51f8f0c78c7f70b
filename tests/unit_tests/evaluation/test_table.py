"""Outcome tables: round trip, validation errors with line numbers, split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.evaluation.table import (
    OutcomeRow,
    OutcomeTable,
    read_outcomes,
    split_outcomes,
    write_outcomes,
)

from .helpers import hand_table, specialist_table


def write_lines(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def row(prompt_id: str = "p1", model: str = "A", **fields: object) -> dict[str, object]:
    return {"prompt_id": prompt_id, "prompt": f"text {prompt_id}", "model": model, "score": 1.0, **fields}


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    table = specialist_table(3, with_answers=True)
    path = write_outcomes(table, tmp_path / "sub" / "t.jsonl")
    again = read_outcomes(path)
    assert again.rows == table.rows
    assert again.content_hash() == table.content_hash()
    assert again.models == ["math-small", "history-small", "large"]
    assert again.n_prompts == 6 and again.has_answers and again.has_latencies and again.has_costs
    # Absent optional fields are omitted, not written as null.
    assert "input_tokens" not in path.read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("records", "line", "message"),
    [
        ([row(), "{not json"], 2, "not valid JSON"),
        ([row(), row(model="B", score=1.5)], 2, "field 'score'"),
        ([row(), row(model="B", scroe=1.0)], 2, "field 'scroe'"),
        ([row(), {"prompt_id": "p1", "model": "B", "score": 0}], 2, "field 'prompt'"),
        ([row(), row(model="B", cost_usd=-1)], 2, "field 'cost_usd'"),
        ([row(), "[1, 2]"], 2, "expected a JSON object"),
        ([row(), row(model="B"), "", row()], 4, "duplicate row"),
        ([row(), row(model="B"), row("p2")], 3, "has no row for model 'B'"),
        ([row(task="x"), row(model="B", task="y")], 2, "field 'task' differs"),
    ],
)
def test_bad_rows_give_typed_errors_with_line_numbers(
    tmp_path: Path, records: list[object], line: int, message: str
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", records)
    with pytest.raises(OutcomeTableError, match=message) as caught:
        read_outcomes(path)
    assert caught.value.line == line
    assert f"line {line}" in str(caught.value) and "bad.jsonl" in str(caught.value)
    assert isinstance(caught.value, EmaFusionError) and isinstance(caught.value, ValueError)


def test_empty_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OutcomeTableError, match="no rows"):
        read_outcomes(write_lines(tmp_path / "empty.jsonl", [""]))


def test_split_is_by_prompt_fixed_seed_and_disjoint() -> None:
    table = specialist_table(10)
    train, test = split_outcomes(table, test_fraction=0.2, seed=7)
    assert (train.n_prompts, test.n_prompts) == (16, 4)
    assert not set(train.prompt_ids) & set(test.prompt_ids)
    assert set(train.prompt_ids) | set(test.prompt_ids) == set(table.prompt_ids)
    assert split_outcomes(table, test_fraction=0.2, seed=7)[1].prompt_ids == test.prompt_ids
    assert split_outcomes(table, test_fraction=0.2, seed=8)[1].prompt_ids != test.prompt_ids


def test_split_follows_prompt_ids_not_row_order() -> None:
    table = specialist_table(10)
    reordered = OutcomeTable(list(reversed(table.rows)))
    assert reordered.prompt_ids != table.prompt_ids
    _, test = split_outcomes(table, test_fraction=0.2, seed=3)
    _, test_reordered = split_outcomes(reordered, test_fraction=0.2, seed=3)
    assert set(test_reordered.prompt_ids) == set(test.prompt_ids)
    # A prompt appended to the table moves no other prompt across the split: one more test prompt keeps
    # every old test prompt on the test side.
    first = table.prompt_ids[0]
    copies = [row.model_copy(update={"prompt_id": "new"}) for row in table.rows if row.prompt_id == first]
    grown = OutcomeTable([*table.rows, *copies])
    _, test_grown = split_outcomes(grown, test_fraction=5 / grown.n_prompts, seed=3)
    assert test_grown.n_prompts == 5
    assert set(test.prompt_ids) < set(test_grown.prompt_ids)


def test_table_arrays_follow_rows() -> None:
    table = hand_table()
    assert table.scores.tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert table.row(2, 1) == OutcomeRow(
        prompt_id="p3", prompt="question p3", model="B", score=0.0, task="hand", cost_usd=2.0
    )
