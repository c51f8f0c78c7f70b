"""How often the decomposition rule would split prompts that hold one task, on prompts we did not write.

    .venv/bin/python benchmarks/decomposition_rule.py [--n 1000] [--seed 0]

The rule (:func:`langchain_emafusion.graph.rule.looks_multi_task`) decides, without a model call, whether a
prompt goes to the decomposer at all; a prompt it passes over takes the direct path. Measured on the distinct
prompts of two recorded outcome tables in ``../shared/data`` (llmrouter's test split and mmlu-pro: questions,
word problems and code tasks, almost all one task each; the few flagged prompts are listed so they can be judged),
and on multi-part prompts that must be flagged. Writes ``benchmarks/results/decomposition_rule.md``.
Target (issue 17): fewer than 5% of one-task prompts split.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import llmrouter_split  # noqa: E402

from langchain_emafusion.graph.rule import looks_multi_task  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "decomposition_rule.md"
MMLU_PRO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu-pro" / "outcomes.jsonl.gz"
MULTI_PART = [
    "Do three things: 1) compute 12*7; 2) name the capital of Japan; 3) write one sentence thanking a customer "
    "for their order.",
    "Summarize the memo, then draft a reply and list three risks.",
    "What is 12 times 7? Also translate 'thank you' into French.",
    "1. Name the capital of Italy\n2. Compute 3 + 4\n3. Write a haiku about rain",
    "Translate 'good night' into German and write a two-line poem about the moon.",
    "List three prime numbers, then explain why 9 is not prime.",
]
EVERYDAY_ONE_TASK = [
    "Explain what a mutex is and give an example.",
    "What is 17 times 23? Show your working.",
    "Summarize this sentence and make it shorter: the meeting moved to Thursday because of the holiday.",
    "Describe a binary search and provide a short code example.",
    "Rewrite this paragraph for a child. Keep it short.",
    "What is the capital of France? Answer in one short sentence.",
]


def sample(prompts: list[str], n: int, seed: int, skip: int = 0) -> list[str]:
    distinct = list(dict.fromkeys(prompts))
    random.Random(seed).shuffle(distinct)
    return distinct[skip : skip + n]


def mmlu_pro_prompts() -> list[str]:
    prompts: list[str] = []
    with gzip.open(MMLU_PRO, "rt", encoding="utf-8") as rows:
        for line in rows:
            prompt = json.loads(line).get("prompt")
            if prompt:
                prompts.append(prompt)
    return prompts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _, test = llmrouter_split()
    mmlu_pro = mmlu_pro_prompts()
    sets = {
        "llmrouter test prompts (looked at while writing the rule)": sample(
            list(test.prompts), args.n, args.seed
        ),
        "mmlu-pro prompts, first 1,000 of the shuffle (looked at while writing the rule)": sample(
            mmlu_pro, 1000, args.seed
        ),
        f"mmlu-pro prompts, the next {args.n:,} (held out: not looked at)": sample(
            mmlu_pro, args.n, args.seed, skip=1000
        ),
        "everyday one-task prompts with a qualifier (issue 17)": EVERYDAY_ONE_TASK,
    }
    rows, flagged = [], []
    for name, prompts in sets.items():
        hits = [p for p in prompts if looks_multi_task(p)]
        rows.append(f"| {name} | {len(prompts)} | {len(hits)} | {len(hits) / len(prompts):.1%} |")
        flagged += [f"- ({name}) {' '.join(p.split())[:160]}" for p in hits[:10]]
    multi = sum(looks_multi_task(p) for p in MULTI_PART)
    text = (
        "# The decomposition rule on prompts we did not write\n\n"
        "Share of prompts the rule sends to the decomposer (the rest take the direct path without a model call). "
        "The recorded tables' prompts are single questions, word problems and code tasks; the flagged ones are "
        "listed below (some really ask two questions). Target: < 5% of one-task prompts.\n\n"
        "| prompts | n | sent to the decomposer | share |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Multi-part prompts flagged: {multi} of {len(MULTI_PART)}.\n\n"
        "First flagged prompts (up to 10 per set):\n\n" + "\n".join(flagged) + "\n\n"
        "Regenerate: `.venv/bin/python benchmarks/decomposition_rule.py`\n"
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
