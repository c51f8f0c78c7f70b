from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_emafusion.privacy import BUILTIN_KINDS, PrivacyConfigError, SensitivityDetector
from langchain_emafusion.privacy.evaluation import (
    LabelledExample,
    evaluate_detector,
    format_report_markdown,
    load_labelled_set,
)

LABELLED = Path(__file__).parent / "data" / "labelled.jsonl"


def test_labelled_set_meets_the_precision_and_recall_targets() -> None:
    examples = load_labelled_set(LABELLED)
    assert len(examples) >= 200
    assert sum(1 for example in examples if not example.spans) >= 60  # plenty of near-misses
    # The self-written set covers the pattern kinds; people (person, address, date_of_birth) are measured on
    # presidio-evaluator templates by benchmarks/privacy_ner.py.
    pattern_kinds = [kind for kind in BUILTIN_KINDS if kind not in ("person", "address", "date_of_birth")]
    report = evaluate_detector(SensitivityDetector(enabled_kinds=pattern_kinds), examples)
    assert set(report.per_kind) == set(pattern_kinds)
    for kind, score in report.per_kind.items():
        assert score.support >= 8, kind
        assert score.precision >= 0.95, (kind, report.false_positives)
        assert score.recall >= 0.95, (kind, report.false_negatives)


def test_scoring_counts_kind_and_value_as_a_multiset() -> None:
    examples = [
        LabelledExample("a@b.io and a@b.io", (("email", "a@b.io"), ("email", "a@b.io"))),
        LabelledExample("a@b.io", (("phone", "a@b.io"),)),  # wrong kind: one FP (email), one FN (phone)
        LabelledExample("host 10.0.0.1", ()),  # unlabelled detection: FP
        LabelledExample("nothing here", (("secret", "here"),)),  # missed: FN
    ]
    report = evaluate_detector(SensitivityDetector(), examples)
    email = report.per_kind["email"]
    assert (email.true_positives, email.false_positives, email.false_negatives) == (2, 1, 0)
    assert email.precision == pytest.approx(2 / 3) and email.recall == 1.0
    assert report.per_kind["phone"].recall == 0.0 and report.per_kind["phone"].precision == 1.0
    assert report.per_kind["ip_address"].precision == 0.0
    assert (report.micro.true_positives, report.micro.false_positives, report.micro.false_negatives) == (
        2,
        2,
        2,
    )
    assert report.micro.f1 == pytest.approx(0.5)
    table = format_report_markdown(report)
    assert "| email | 2 | 2 | 1 | 0 | 0.667 | 1.000 | 0.800 |" in table
    assert table.splitlines()[-1].startswith("| **micro average** | 4 |")


def test_bad_labelled_lines_are_reported_with_their_number(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"text": "a", "spans": []}) + "\n" + '{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(PrivacyConfigError, match="line 2"):
        load_labelled_set(path)
    path.write_text(
        json.dumps({"text": "a", "spans": [{"kind": "email", "value": "zzz"}]}) + "\n", encoding="utf-8"
    )
    with pytest.raises(PrivacyConfigError, match="line 1.*not in the text"):
        load_labelled_set(path)
