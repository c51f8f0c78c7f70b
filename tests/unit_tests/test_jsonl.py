from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.feedback.log import FeedbackLogError
from langchain_emafusion.jsonl import iter_jsonl
from langchain_emafusion.privacy.errors import AuditLogError


class LineError(ValueError):
    def __init__(self, message: str, *, path: Path, line: int) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('\n{"a": 1}\n   \n\t\n{"b": 2}\n\n', encoding="utf-8")
    assert list(iter_jsonl(path, LineError)) == [(2, {"a": 1}), (5, {"b": 2})]
    path.write_text("\n \n", encoding="utf-8")
    assert list(iter_jsonl(path, LineError)) == []


def test_lines_split_as_text_mode_does(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\r\n{"b": 2}\r{"c": "x\xe2\x80\xa8y"}\n')  # \u2028 is no line break
    assert list(iter_jsonl(path, LineError)) == [(1, {"a": 1}), (3, {"b": 2}), (4, {"c": "x\u2028y"})]


@pytest.mark.parametrize("error", [LineError, OutcomeTableError, FeedbackLogError, AuditLogError])
def test_bad_json_raises_the_given_error_naming_path_and_line(tmp_path: Path, error: type[Exception]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{nope\n', encoding="utf-8")
    with pytest.raises(error, match=r"bad\.jsonl.*line 3|bad\.jsonl:3") as caught:
        list(iter_jsonl(path, error))  # type: ignore[arg-type]
    assert "not valid JSON (Expecting property name enclosed in double quotes)" in str(caught.value)
    assert caught.value.line == 3  # type: ignore[attr-defined]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_json_message_can_be_formatted_by_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1,}\n', encoding="utf-8")
    with pytest.raises(LineError, match=r"bad\.jsonl:1: bad at column 9$"):
        list(iter_jsonl(path, LineError, json_message=lambda e: f"bad at column {e.colno}"))


def test_earlier_lines_are_yielded_before_a_later_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n{nope\n', encoding="utf-8")
    lines = iter_jsonl(path, LineError)
    assert next(lines) == (1, {"a": 1})
    with pytest.raises(LineError, match=":2:"):
        next(lines)


@pytest.mark.parametrize(("value", "name"), [([1, 2], "list"), (3, "int"), (None, "NoneType"), ("x", "str")])
def test_a_line_that_is_not_an_object(tmp_path: Path, value: object, name: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n' + json.dumps(value) + "\n", encoding="utf-8")
    with pytest.raises(LineError, match=rf":2: expected a JSON object, got {name}$"):
        list(iter_jsonl(path, LineError))
    # objects_only=False: the caller checks the value (as the feedback and audit log readers do).
    assert list(iter_jsonl(path, LineError, objects_only=False)) == [(1, {"a": 1}), (2, value)]


def test_text_already_read_is_parsed_and_the_path_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n\n[1]\n'))
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    with pytest.raises(LineError, match=r"t\.jsonl\.gz:3: expected a JSON object, got list"):
        list(iter_jsonl(path, LineError, text=text))
    assert list(iter_jsonl(tmp_path / "never-opened.jsonl", LineError, text='{"a": 1}\r\n')) == [
        (1, {"a": 1})
    ]


def test_file_errors_are_not_wrapped(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(iter_jsonl(tmp_path / "missing.jsonl", LineError))
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{}\n\xff\n")
    with pytest.raises(UnicodeDecodeError):
        list(iter_jsonl(path, LineError))
