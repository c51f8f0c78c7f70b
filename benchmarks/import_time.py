"""Cold import time of the package and of FusionChatModel (median of fresh interpreters).

Run: .venv/bin/python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

SNIPPETS = {
    "import langchain_emafusion": "import langchain_emafusion",
    "from langchain_emafusion import FusionChatModel": "from langchain_emafusion import FusionChatModel",
    "FusionChatModel() (embedded pool, no weights)": "from langchain_emafusion import FusionChatModel; FusionChatModel()",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for label, snippet in SNIPPETS.items():
        code = f"import time; t = time.perf_counter(); {snippet}; print(time.perf_counter() - t)"
        times = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(args.runs)
        ]
        print(f"{label}: median {statistics.median(times) * 1000:.0f} ms over {args.runs} runs")


if __name__ == "__main__":
    main()
