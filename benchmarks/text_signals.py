"""Time of every answer signal and extractor on ~1 MB answers (looping, digit runs, prose, unicode).

Run: .venv/bin/python benchmarks/text_signals.py [--repeats 5]
Target (issue 20): each of the judge's signals (`response_signals`, `check_arithmetic`) and the extractors used
on live answers <= 5 ms on a 1 MB response on this machine. The synthesis checkers and prompt-side functions are
reported as measured (offline, or reading the prompt once). Writes benchmarks/results/text_signals.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_emafusion.evaluation.extractors import (
    extract_choice_letter,
    extract_final_number,
    extract_last_date,
    extract_last_time,
    numbers_in,
)
from langchain_emafusion.fusion.answers import answer_key, infer_answer_kind
from langchain_emafusion.fusion.signals import check_arithmetic, response_signals
from langchain_emafusion.graph.rule import looks_multi_task
from langchain_emafusion.pool.llamacpp import _tool_call_blocks
from langchain_emafusion.synthesis.checkers import _bullets, _extract_json
from langchain_emafusion.synthesis.code_runner import extract_code

RESULTS = Path(__file__).parent / "results" / "text_signals.md"
SIZE = 1_000_000
FRAGMENTS = {
    "looping product": "1.00 × 1000 × ",
    "looping minus": "- 94.26 ",
    "steps": "1+1=2 ",
    "bare equations": "1=1 ",
    "single characters": "a.",
    "digit run": "7",
    "blank lines": "\n",
    "prose": "The quick brown fox considers the answer carefully. ",
    "unicode": "é漢🙂 ",
}
TEXTS = {name: (fragment * (SIZE // len(fragment) + 1))[:SIZE] for name, fragment in FRAGMENTS.items()}
TEXTS["distinct numbers"] = " ".join(f"{i * 1.5} + {i} = {i * 2.5}" for i in range(SIZE // 12))[:SIZE]
LIVE: dict[str, Callable[[str], Any]] = {
    "response_signals": lambda t: response_signals(t, None, answers_expected=True),
    "check_arithmetic": check_arithmetic,
    "extract_final_number": extract_final_number,
    "extract_choice_letter": lambda t: extract_choice_letter(t, letters="ABCDEFGHIJ"),
    "extract_last_date": extract_last_date,
    "extract_last_time": extract_last_time,
    "numbers_in": numbers_in,
    "answer_key (number)": lambda t: answer_key(t, "number"),
    "tool-call blocks": _tool_call_blocks,
}
OTHER: dict[str, Callable[[str], Any]] = {
    "infer_answer_kind (prompt)": infer_answer_kind,
    "looks_multi_task (prompt)": looks_multi_task,
    "JSON checker": _extract_json,
    "bullet checker": _bullets,
    "code extraction": extract_code,
}


def worst_ms(function: Callable[[str], Any], repeats: int) -> tuple[float, str]:
    """The slowest text kind's median milliseconds, and which kind it was."""
    worst, kind = 0.0, ""
    for name, text in TEXTS.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            function(text)
            times.append(1000 * (time.perf_counter() - started))
        if statistics.median(times) > worst:
            worst, kind = statistics.median(times), name
    return worst, kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lines = [
        "# Answer signals and extractors on 1 MB answers",
        "",
        f"Median of {args.repeats} runs on the slowest of {len(TEXTS)} kinds of 1 MB text "
        f"({', '.join(TEXTS)}). Reproduce: `.venv/bin/python benchmarks/text_signals.py`.",
        "",
        "| function | worst median ms | on | target 5 ms |",
        "|---|---:|---|---|",
    ]
    for group, functions in (("live", LIVE), ("other", OTHER)):
        for name, function in functions.items():
            ms, kind = worst_ms(function, args.repeats)
            target = (
                ("met" if ms <= 5.0 else "NOT met") if group == "live" else "n/a (reads the whole text once)"
            )
            lines.append(f"| {name} | {ms:.2f} | {kind} | {target} |")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
