"""The template expression language: what it computes and what it refuses."""

from __future__ import annotations

import pytest

from langchain_emafusion.synthesis.expressions import evaluate_expression, expression_names


def test_arithmetic_subscripts_and_displays() -> None:
    values = {"qty": 3, "price": 19.5, "spec": {"rate": 0.5}, "items": [1, 2, 3]}
    assert evaluate_expression("round(qty * price * (1 - 10 / 100), 2)", values) == 52.65
    assert evaluate_expression("spec['rate'] * items[-1]", values) == 1.5
    assert evaluate_expression("{'total': qty * 2, 'first': items[0]}", values) == {"total": 6, "first": 1}
    assert evaluate_expression("'big' if qty > 2 else 'small'", values) == "big"
    assert evaluate_expression("f'{qty:03d}'", values) == "003"
    assert evaluate_expression("'AB'.lower() + str(len(items))", values) == "ab3"


def test_date_helpers() -> None:
    assert evaluate_expression("date_add(d, 30)", {"d": "2025-01-15"}) == "2025-02-14"
    assert evaluate_expression("add_months(d, 1)", {"d": "2025-01-31"}) == "2025-02-28"
    assert evaluate_expression("add_months(d, 13)", {"d": "2024-12-15"}) == "2026-01-15"
    assert evaluate_expression("days_between('2025-03-01', '2025-04-01')", {}) == 31
    assert evaluate_expression("weekday('2025-11-27')", {}) == "Thursday"
    assert evaluate_expression("business_days_between('2025-11-28', '2025-12-01')", {}) == 1


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__",
        "__import__('os')",
        "(lambda: 1)()",
        "[x for x in items]",
        "items.append(4)",
        "open('/etc/passwd')",
        "x := 1",
    ],
)
def test_refused_constructs(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate_expression(expression, {"items": [1, 2]})


def test_unknown_name_and_failing_expression_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown name 'qtty'"):
        evaluate_expression("qtty * 2", {"qty": 1})
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        evaluate_expression("qty / 0", {"qty": 1})


def test_expression_names_excludes_functions() -> None:
    assert expression_names("round(a * b, 2) + max(c, 1)") == {"a", "b", "c"}
