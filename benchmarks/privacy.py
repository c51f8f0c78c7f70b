"""Precision/recall of the sensitivity detectors on the labelled set (seconds, no model, no network).

    .venv/bin/python benchmarks/privacy.py [--labelled tests/unit_tests/privacy/data/labelled.jsonl] [--show-errors]

A detection counts when the labelled example has a span of the same kind and the same value. Writes
``benchmarks/results/privacy.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from langchain_emafusion.privacy import BUILTIN_KINDS, SensitivityDetector  # noqa: E402
from langchain_emafusion.privacy.evaluation import (  # noqa: E402
    evaluate_detector,
    format_report_markdown,
    load_labelled_set,
)

LABELLED = REPO_ROOT / "tests" / "unit_tests" / "privacy" / "data" / "labelled.jsonl"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "privacy.md"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--show-errors", action="store_true", help="print every false positive and negative")
    args = parser.parse_args()

    examples = load_labelled_set(args.labelled)
    # The self-written set labels the pattern kinds only; people are measured by benchmarks/privacy_ner.py.
    pattern_kinds = [kind for kind in BUILTIN_KINDS if kind not in ("person", "address", "date_of_birth")]
    detector = SensitivityDetector(enabled_kinds=pattern_kinds)
    started = time.perf_counter()
    report = evaluate_detector(detector, examples)
    elapsed = time.perf_counter() - started
    negatives = sum(1 for example in examples if not example.spans)
    table = format_report_markdown(report, kinds=pattern_kinds)
    try:
        labelled_name = args.labelled.resolve().relative_to(REPO_ROOT)
    except ValueError:
        labelled_name = args.labelled
    text = (
        "# Sensitivity detectors: precision and recall\n\n"
        f"Labelled set: `{labelled_name}`: {len(examples)} texts, {report.micro.support} labelled spans, "
        f"{negatives} texts with nothing sensitive (near-misses: Luhn-invalid numbers, version strings, dates, "
        "order ids, invalid SSN ranges, bad IBAN checksums, placeholder keys...).\n"
        "A detection is correct when the example has a span of the same kind and value. "
        f"Pattern kinds only (person, address and date of birth: `benchmarks/privacy_ner.py`), phone regions {', '.join(detector.phone_regions)}; "
        f"{elapsed * 1000 / max(len(examples), 1):.2f} ms per text on this machine.\n\n"
        f"{table}\n"
        "The set and the detectors were written by the same people: read these as regression figures, "
        "not as an estimate of precision on unseen text.\n\n"
        "Regenerate: `.venv/bin/python benchmarks/privacy.py`\n"
    )
    print(table)
    if args.show_errors:
        for sample, kind, value in report.false_positives:
            print(f"FP {kind} {value!r} in {sample[:80]!r}")
        for sample, kind, value in report.false_negatives:
            print(f"FN {kind} {value!r} in {sample[:80]!r}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
