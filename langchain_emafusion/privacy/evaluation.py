"""Precision, recall and F1 of a :class:`SensitivityDetector` on a labelled set.

A labelled set is a JSONL file, one example per line: ``{"text": "...", "spans": [{"kind": "email", "value":
"a@b.com"}, ...]}``. A detection counts as correct when an expected span has the same kind and the same value
(positions are not compared, so labels stay easy to write); repeated values are counted as a multiset.

Labelling conventions of the bundled set (``tests/unit_tests/privacy/data/labelled.jsonl``): the value is the
sensitive token as written: a phone number with its ``+``, spaces and parentheses; an IP address without port or
prefix length; for ``password=...``, ``api_key: ...``, ``Bearer ...`` and URL passwords only the secret value;
a private key as its whole ``-----BEGIN ... -----END ...-----`` block.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langchain_emafusion.privacy.detectors import SensitivityDetector
from langchain_emafusion.privacy.errors import PrivacyConfigError

__all__ = [
    "DetectionReport",
    "KindScore",
    "LabelledExample",
    "evaluate_detector",
    "format_report_markdown",
    "load_labelled_set",
]


@dataclass(frozen=True)
class LabelledExample:
    """A text and the sensitive ``(kind, value)`` pairs it contains."""

    text: str
    spans: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class KindScore:
    """Counts for one kind (or for all kinds together) and the scores derived from them.

    Precision is 1.0 when nothing was predicted and recall is 1.0 when nothing was expected (there was nothing
    to get wrong), so a kind absent from a set does not read as a failure.
    """

    kind: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def support(self) -> int:
        """How many spans of this kind the labels contain."""
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        """Correct detections / all detections."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Correct detections / all labelled spans."""
        return self.true_positives / self.support if self.support else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass
class DetectionReport:
    """Scores per kind, their micro average, and the individual mistakes for inspection.

    Attributes:
        per_kind: Kind → score, for every kind that was labelled or predicted.
        micro: All kinds pooled.
        false_positives: ``(text, kind, value)`` detected but not labelled.
        false_negatives: ``(text, kind, value)`` labelled but not detected.
    """

    per_kind: dict[str, KindScore]
    micro: KindScore
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)
    false_negatives: list[tuple[str, str, str]] = field(default_factory=list)


def load_labelled_set(path: str | Path) -> list[LabelledExample]:
    """Read a labelled JSONL set.

    Raises:
        PrivacyConfigError: A line is not valid JSON, lacks ``text``/``spans``, or a span's value is not in its text;
            the message names the line.
    """
    examples: list[LabelledExample] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row["text"]
                spans = tuple((span["kind"], span["value"]) for span in row["spans"])
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise PrivacyConfigError(
                    f"{path}, line {number}: not a labelled example ({error})"
                ) from error
            for kind, value in spans:
                if not isinstance(text, str) or not isinstance(value, str) or value not in text:
                    raise PrivacyConfigError(
                        f"{path}, line {number}: span {kind}={value!r} is not in the text"
                    )
            examples.append(LabelledExample(text=text, spans=spans))
    return examples


def evaluate_detector(detector: SensitivityDetector, examples: Iterable[LabelledExample]) -> DetectionReport:
    """Score ``detector`` on ``examples`` (match = same kind and same value)."""
    counts: dict[str, list[int]] = {}
    false_positives: list[tuple[str, str, str]] = []
    false_negatives: list[tuple[str, str, str]] = []
    for example in examples:
        expected = Counter(example.spans)
        predicted = Counter((detection.kind, detection.value) for detection in detector.detect(example.text))
        for key in expected | predicted:
            kind_counts = counts.setdefault(key[0], [0, 0, 0])
            hits = min(expected[key], predicted[key])
            kind_counts[0] += hits
            kind_counts[1] += predicted[key] - hits
            kind_counts[2] += expected[key] - hits
            false_positives.extend([(example.text, *key)] * (predicted[key] - hits))
            false_negatives.extend([(example.text, *key)] * (expected[key] - hits))
    per_kind = {kind: KindScore(kind, *values) for kind, values in sorted(counts.items())}
    micro = KindScore(
        "micro average",
        sum(score.true_positives for score in per_kind.values()),
        sum(score.false_positives for score in per_kind.values()),
        sum(score.false_negatives for score in per_kind.values()),
    )
    return DetectionReport(per_kind, micro, false_positives, false_negatives)


def format_report_markdown(report: DetectionReport, *, kinds: Sequence[str] | None = None) -> str:
    """The report as a Markdown table: one row per kind, then the micro average."""
    lines = [
        "| kind | support | TP | FP | FN | precision | recall | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [report.per_kind[kind] for kind in (kinds or report.per_kind) if kind in report.per_kind]
    for score in [*rows, report.micro]:
        name = f"**{score.kind}**" if score is report.micro else score.kind
        lines.append(
            f"| {name} | {score.support} | {score.true_positives} | {score.false_positives} | "
            f"{score.false_negatives} | {score.precision:.3f} | {score.recall:.3f} | {score.f1:.3f} |"
        )
    return "\n".join(lines) + "\n"
