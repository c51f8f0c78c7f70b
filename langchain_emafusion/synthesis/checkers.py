"""Answer checkers: extract a comparable answer from a response and score it against a computed reference.

:class:`ResolvedCheck` is one prompt's (or one part's) filled-in scoring spec; :func:`check_response` applies it.
The ``judge`` checker needs a model call and is done by the synthesis runner, not here.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_emafusion.evaluation.extractors import (
    extract_final_number,
    extract_last_date,
    extract_last_time,
    normalize_number,
)
from langchain_emafusion.synthesis.code_runner import extract_code, run_python_tests

__all__ = [
    "ResolvedCheck",
    "check_response",
    "extract_answer",
    "reference_key",
    "resolve_callable",
    "normalize_text",
]


class ResolvedCheck(BaseModel):
    """A scoring spec filled in for one prompt: the checker, the reference and the rendered parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checker: str
    """The checker's name (see ``ScoringSpec.checker``)."""

    answer_type: str
    """How the answer is extracted: number, label, text, date, time, json, bullets or code."""

    reference: Any = None
    """The correct answer computed from the slots (a number, a string, a mapping of fields), if any."""

    labels: list[str] | None = None
    """Valid labels, for answer type ``label``."""

    params: dict[str, Any] = Field(default_factory=dict)
    """Rendered checker parameters (pattern, tolerance, count, tests, ...)."""


def normalize_text(text: str) -> str:
    """Case-fold, drop punctuation and markdown emphasis, collapse whitespace (for ``normalized`` comparisons)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in folded)
    return " ".join(kept.split())


def resolve_callable(path: str) -> Callable[..., Any]:
    """Import a callable named ``package.module:function`` or ``package.module.function``.

    Raises:
        ValueError: It cannot be imported or is not callable.
    """
    module_name, separator, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not separator or not module_name or not attribute:
        raise ValueError(f"{path!r} is not a dotted path 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} (from {path!r}): {error}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{path!r}: {attribute!r} is not a callable of {module_name!r}")
    return function


_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+(\S.*)$")
_JSON_FENCE = re.compile(r"```(?:json)?(.*?)```", re.DOTALL | re.IGNORECASE)
_JSON_STARTS = 64
"""Most "{" positions tried as the start of a JSON object (each failed try costs a parse)."""


def _extract_json(response: str) -> dict[str, Any] | None:
    candidates = [block for block in _JSON_FENCE.findall(response)] + [response]
    decoder = json.JSONDecoder()
    for text in candidates:
        starts = (match.start() for match in re.finditer(r"\{", text))
        for start in itertools.islice(starts, _JSON_STARTS):
            try:
                value, _ = decoder.raw_decode(text, start)
            except (json.JSONDecodeError, RecursionError):  # deeply nested input is no answer either
                continue
            if isinstance(value, dict):
                return value
    return None


def _label_answer(response: str, labels: list[str]) -> str | None:
    # The last label named: worked answers restate the question's labels first and conclude with their own.
    text = normalize_text(response)
    last: tuple[int, str] | None = None
    for label in labels:
        for match in re.finditer(rf"(?<!\w){re.escape(normalize_text(label))}(?!\w)", text):
            if last is None or match.start() > last[0]:
                last = (match.start(), label)
    return None if last is None else last[1]


def _bullets(response: str) -> list[str]:
    return [match.group(1).strip() for line in response.splitlines() if (match := _BULLET.match(line))]


def _field_key(value: Any) -> Any:
    """A field value as a comparable key: numbers normalized, text normalized, containers recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return normalize_number(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        number = normalize_number(value)
        return number if number is not None else normalize_text(value)
    if isinstance(value, list | tuple):
        return [_field_key(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _field_key(item) for key, item in sorted(value.items())}
    return normalize_text(str(value))


def _json_key(values: dict[str, Any], fields: list[str]) -> str:
    return json.dumps(
        {name: _field_key(values.get(name)) for name in fields}, sort_keys=True, ensure_ascii=False
    )


def extract_answer(check: ResolvedCheck, response: str) -> str | None:
    """Extract the comparable answer key of a response for this check's answer type (None if none)."""
    kind = check.answer_type
    if kind == "number":
        return extract_final_number(response)
    if kind == "label":
        return _label_answer(response, check.labels or [])
    if kind == "date":
        return extract_last_date(response)
    if kind == "time":
        return extract_last_time(response)
    if kind == "text":
        lines = [line.strip().strip("*").strip() for line in response.splitlines() if line.strip()]
        return lines[0] if lines else None
    if kind == "json":
        parsed = _extract_json(response)
        if parsed is None:
            return None
        fields = check.params.get("fields") or sorted(parsed)
        return _json_key(parsed, list(fields))
    return None  # bullets and code have no comparable key


def reference_key(check: ResolvedCheck) -> str | None:
    """The outcome table's ``reference`` key for this check (comparable with :func:`extract_answer`)."""
    reference = check.reference
    if reference is None:
        return None
    if check.answer_type == "number":
        return normalize_number(str(reference))
    if check.answer_type == "json" and isinstance(reference, dict):
        return _json_key(reference, list(check.params.get("fields") or sorted(reference)))
    if check.checker == "callable":
        # The reference is the function's input (a word count, say), not necessarily an answer key.
        return None
    if check.answer_type in ("label", "text", "date", "time"):
        return str(reference)
    return None


def _numbers_close(answer: Any, reference: Any, params: dict[str, Any]) -> bool:
    try:
        got, want = float(str(answer).replace(",", "")), float(str(reference).replace(",", ""))
    except ValueError:
        return False
    allowed = max(params.get("tolerance", 0.0), params.get("relative_tolerance", 0.0) * abs(want), 1e-9)
    return abs(got - want) <= allowed


def _json_fields_score(check: ResolvedCheck, response: str) -> float:
    parsed = _extract_json(response)
    if parsed is None:
        return 0.0
    reference: dict[str, Any] = check.reference
    fields: list[str] = check.params["fields"]
    right = 0
    for name in fields:
        got, want = parsed.get(name), reference.get(name)
        if isinstance(want, int | float) and not isinstance(want, bool):
            right += got is not None and _numbers_close(got, want, check.params)
        else:
            right += _field_key(got) == _field_key(want)
    if check.params.get("partial_credit"):
        return right / len(fields)
    return float(right == len(fields))


def _bullets_score(check: ResolvedCheck, response: str) -> float:
    bullets = _bullets(response)
    conditions = [len(bullets) == check.params["count"]]
    max_words = check.params.get("max_words")
    if max_words:
        conditions.append(bool(bullets) and all(len(bullet.split()) <= max_words for bullet in bullets))
    joined = normalize_text(" ".join(bullets))
    for mention in check.params.get("must_mention") or []:
        conditions.append(normalize_text(mention) in joined)
    if check.params.get("partial_credit"):
        return sum(conditions) / len(conditions)
    return float(all(conditions))


def check_response(check: ResolvedCheck, response: str) -> tuple[float, str | None]:
    """Score one response with a (non-judge) check.

    Args:
        check: The filled-in check.
        response: The model's answer text.

    Returns:
        The score in [0, 1] and the extracted answer key (None where the answer type has none).

    Raises:
        ValueError: The check is a ``judge`` (the runner calls the judge model), or a callable checker returned
            something that is not a score.
    """
    answer = extract_answer(check, response)
    checker = check.checker
    if checker == "exact":
        return float(answer is not None and answer.strip() == str(check.reference).strip()), answer
    if checker == "normalized":
        return float(
            answer is not None and normalize_text(answer) == normalize_text(str(check.reference))
        ), answer
    if checker == "numeric":
        return float(answer is not None and _numbers_close(answer, check.reference, check.params)), answer
    if checker == "regex":
        found = re.search(check.params["pattern"], response, check.params.get("flags", 0)) is not None
        if found and check.answer_type in ("date", "time") and check.reference is not None:
            # The pattern found the right value somewhere ("2025-11-20, i.e. 10 days after 2025-11-10"): that
            # value is the answer, whichever date the text happens to write last.
            answer = str(check.reference)
        return float(found), answer
    if checker == "json_fields":
        return _json_fields_score(check, response), answer
    if checker == "bullets":
        return _bullets_score(check, response), answer
    if checker == "python_tests":
        code = extract_code(response)
        passed = bool(code) and run_python_tests(
            code, check.params["tests"], timeout_s=check.params["timeout_s"]
        )
        return float(passed), answer
    if checker == "callable":
        return _callable_score(check, response, answer)
    raise ValueError(f"checker {checker!r} is not scored by check_response (a judge needs a model call)")


def _callable_score(check: ResolvedCheck, response: str, answer: str | None) -> tuple[float, str | None]:
    function = resolve_callable(check.params["function"])
    result = function(response=response, reference=check.reference, check=check)
    if isinstance(result, tuple) and len(result) == 2:
        result, answer = result
    if isinstance(result, bool):
        result = float(result)
    if not isinstance(result, int | float) or not 0.0 <= float(result) <= 1.0:
        raise ValueError(
            f"callable checker {check.params['function']!r} returned {result!r}; expected a bool or a score in [0, 1]"
        )
    return float(result), answer
