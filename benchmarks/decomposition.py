"""Decomposition on the embedded local pool, fair rows only: the same member answering whole vs decomposed.

Two prompt sets, written for this benchmark (nothing from a training table):
- 36 multi-part prompts (2-3 parts each, 4 of them numbered lists, the issue's "Do three things" among them),
  each part with a checker (a regex the final answer must contain);
- 52 everyday prompts that state one task, most with a qualifier ("explain ... and give an example", "show your
  working", "summarize ... and make it shorter"), which must not be split.

Systems, every call with the same ``max_tokens``:
- ``default``: ``FusionChatModel()`` as shipped (the default router, decomposition on: the rule, the
  expected-gain decision, the decomposer, the ``auto`` merge);
- ``direct``: ``FusionChatModel(decompose=False)``;
- per member M: ``whole:M`` (M answers the whole prompt in one call) and ``split:M`` (the fusion graph with M as
  its only member and the ``cheapest`` router, which predicts no quality, so every plan the rule and the
  decomposer make is followed: M plans, answers each subtask and merges).
A part counts as answered when its checker matches the final answer. The local members are free ($0), so the
cost columns are calls and seconds per prompt.

Run: .venv/bin/python benchmarks/decomposition.py [--max-tokens 64] [--threads 1] [--limit N] [--report-only]
Writes benchmarks/results/decomposition.md. Rows are cached per prompt and system (resumable) under
$EMAFUSION_CACHE_DIR/benchmarks/decomposition/. On a busy 2-core machine the full run takes 30-60 min.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from langchain_emafusion import FusionChatModel, ModelPool
from langchain_emafusion.graph import create_fusion_graph
from langchain_emafusion.pool.embedded import default_embedded_pool
from langchain_emafusion.pool.weights import cache_dir

RESULTS = Path(__file__).parent / "results" / "decomposition.md"
CACHE = cache_dir() / "benchmarks" / "decomposition"

# (prompt, [regex per part]); regexes are matched case-insensitively anywhere in the answer.
MULTI_PART: list[tuple[str, list[str]]] = [
    (
        "Do three things: 1) compute 12*7; 2) name the capital of Japan; 3) write one sentence thanking a "
        "customer for their order.",
        [r"\b84\b", r"tokyo", r"thank"],
    ),
    (
        "Answer each of the following.\n1) What is 14 plus 28?\n2) Name the capital of Sweden.\n"
        "3) Translate 'thank you' into German.",
        [r"\b42\b", r"stockholm", r"danke"],
    ),
    (
        "Answer each of the following.\n1) Name the chemical symbol for water.\n2) What is 6 times 9?",
        [r"h2o|h₂o", r"\b54\b"],
    ),
    (
        "Do the following.\n1) Name the capital of Brazil.\n2) Compute 90 divided by 3.",
        [r"bras[ií]lia", r"\b30\b"],
    ),
    ("What is the capital of France? Also, what is 7 times 8?", [r"paris", r"\b56\b"]),
    (
        "Name the largest planet in the solar system, then translate 'thank you' into Spanish.",
        [r"jupiter", r"gracias"],
    ),
    (
        "What is 12 plus 30? Also name the capital of Italy. Finally, what colour is the sky on a clear day?",
        [r"\b42\b", r"rome|roma", r"blue"],
    ),
    ("Translate 'hello' into French and name the capital of Germany.", [r"bonjour|salut", r"berlin"]),
    ("What is 9 times 9? Then name the chemical symbol for gold.", [r"\b81\b", r"\bau\b"]),
    ("Name the capital of Japan. Also, how many days are in a week?", [r"tokyo", r"\b(7|seven)\b"]),
    ("What is 100 minus 37? Then translate 'cat' into Spanish.", [r"\b63\b", r"gato"]),
    ("Name the longest river in Egypt and tell me what 6 times 7 is.", [r"nile", r"\b42\b"]),
    (
        "What is the capital of Spain? Also, what is the freezing point of water in Celsius?",
        [r"madrid", r"\b0\b|zero"],
    ),
    (
        "List the three primary colours of paint. Then name the capital of the United Kingdom.",
        [r"red", r"london"],
    ),
    ("What is 15 plus 27? Also, which animal is known as the king of the jungle?", [r"\b42\b", r"lion"]),
    ("Translate 'water' into Spanish, then name the planet closest to the Sun.", [r"agua", r"mercury"]),
    ("What is the capital of Canada? Also compute 8 times 12.", [r"ottawa", r"\b96\b"]),
    ("Name the author of Romeo and Juliet, and what is 50 divided by 2?", [r"shakespeare", r"\b25\b"]),
    ("How many legs does a spider have? Then name the capital of Russia.", [r"\b(8|eight)\b", r"moscow"]),
    (
        "What is the boiling point of water in Celsius? Also translate 'dog' into French.",
        [r"\b100\b", r"chien"],
    ),
    (
        "Name the capital of Australia. Then compute 11 times 11. Finally, what gas do plants absorb from the air?",
        [r"canberra", r"\b121\b", r"carbon dioxide|co2"],
    ),
    ("What is 3 cubed? Also name the smallest prime number.", [r"\b27\b", r"\b(2|two)\b"]),
    (
        "Translate 'good night' into Spanish and name the capital of Portugal.",
        [r"buenas noches", r"lisbon|lisboa"],
    ),
    ("Which ocean is the largest? Then compute 144 divided by 12.", [r"pacific", r"\b12\b"]),
    ("Name the capital of Egypt. Also, how many continents are there?", [r"cairo", r"\b(7|seven)\b"]),
    ("What is 20 times 5? Then name the fastest land animal.", [r"\b100\b", r"cheetah"]),
    ("Translate 'book' into French. Also name the capital of China.", [r"livre", r"beijing|peking"]),
    ("Who painted the Mona Lisa? Then compute 45 plus 55.", [r"leonardo|da vinci", r"\b100\b"]),
    ("Name the capital of Greece, then tell me how many hours are in a day.", [r"athens", r"\b24\b"]),
    ("What is the square root of 81? Also name the red planet.", [r"\b(9|nine)\b", r"mars"]),
    (
        "Translate 'apple' into Spanish. Then name the capital of Mexico. Finally, compute 13 plus 29.",
        [r"manzana", r"mexico city|ciudad de m", r"\b42\b"],
    ),
    ("Name the tallest mountain on Earth and compute 7 plus 6.", [r"everest", r"\b13\b"]),
    ("What is the capital of India? Also, what is 1000 divided by 10?", [r"delhi", r"\b100\b"]),
    (
        "How many sides does a triangle have? Then translate 'friend' into Spanish.",
        [r"\b(3|three)\b", r"amig[oa]"],
    ),
    (
        "Name the capital of Kenya. Also compute 25 times 4. Finally, name the largest mammal.",
        [r"nairobi", r"\b100\b", r"blue whale|whale"],
    ),
    ("What is 2 to the power of 5? Then name the capital of Norway.", [r"\b32\b", r"oslo"]),
]


# Everyday prompts that state one task, many with a qualifier (explain + example, compute + show working,
# summarize + shorten): none may be split. A regex checks the answer where one right answer exists.
ONE_TASK: list[tuple[str, str | None]] = [
    ("Explain what a mutex is and give an example.", r"lock|thread"),
    ("What is 17 times 23? Show your working.", r"\b391\b"),
    (
        "Summarize this sentence and make it shorter: the meeting moved to Thursday because of the holiday.",
        r"thursday",
    ),
    ("Describe a binary search and provide a short code example.", r"half|middle|mid"),
    ("What is the capital of France? Answer in one short sentence.", r"paris"),
    ("What is 45 plus 38? Explain your reasoning.", r"\b83\b"),
    ("Translate 'good morning' into Spanish and keep it short.", r"buenos d[ií]as"),
    ("Name the largest ocean on Earth. Be brief.", r"pacific"),
    ("Write a one-sentence thank-you note to a customer for their order.", r"thank"),
    ("Convert 5 kilometres to metres and show the calculation.", r"5,?000"),
    ("Explain what recursion is, with a simple example.", r"itself|recurs"),
    ("Rewrite this sentence in the passive voice: The cat chased the mouse.", r"mouse was chased"),
    ("What is the square root of 144? Explain briefly.", r"\b12\b"),
    ("Classify this ticket as billing, technical or shipping: 'We were charged twice.'", r"billing"),
    ("Give me a synonym for 'happy' and use it in a sentence.", None),
    ("Summarize the plot of Romeo and Juliet in two sentences.", r"romeo|juliet"),
    ("What year did the Second World War end? Answer with the year only.", r"1945"),
    ("Explain the difference between a list and a tuple in Python, with an example.", r"immutable|mutable"),
    ("Compute 250 divided by 5 and show each step.", r"\b50\b"),
    ("Who wrote Pride and Prejudice? Keep the answer short.", r"austen"),
    ("Write a Python function that returns the square of a number.", r"def\s+\w+"),
    ("What is the boiling point of water in Fahrenheit? Explain in one line.", r"\b212\b"),
    ("Describe photosynthesis in simple terms and give one example of a plant.", r"light|sun"),
    ("Extract the date from this sentence: The invoice is due on 14 March 2025.", r"14 march|march 14|2025"),
    ("Translate 'library' into French, then use it in a short sentence.", r"biblioth[eè]que"),
    ("What is 12 squared? Show your working.", r"\b144\b"),
    ("Explain what an API is to a beginner, and keep it under three sentences.", r"interface|program"),
    ("How many minutes are in three hours? Show the multiplication.", r"\b180\b"),
    ("Name the planet known as the Red Planet and say why it is red.", r"mars"),
    ("Correct the spelling in this sentence: I recieved the pakage yesterday.", r"received"),
    ("Write a haiku about autumn leaves.", None),
    ("What is the plural of 'mouse'? Give an example sentence.", r"mice"),
    ("Explain what a prime number is and list the first five primes.", r"\b2\b.*\b3\b.*\b5\b"),
    ("What is 7 percent of 200? Explain how you got it.", r"\b14\b"),
    ("Describe the water cycle briefly, using simple words.", r"evaporat|rain|cloud"),
    ("Give the chemical formula for table salt and name its elements.", r"nacl"),
    ("Sort these numbers from smallest to largest: 9, 2, 7, 4.", r"2,?\s*4,?\s*7,?\s*9"),
    ("Explain why the sky is blue, in one paragraph.", r"scatter|light"),
    ("What is the capital of Canada? Answer in one word.", r"ottawa"),
    ("Turn this into a polite request: Send me the report now.", r"please|could you|would you"),
    ("Write a SQL query that selects all rows from a table named users.", r"select\s+\*\s+from\s+users"),
    ("How many legs does an insect have? Explain briefly.", r"\b(6|six)\b"),
    ("Give an example of a renewable energy source and explain why it is renewable.", r"solar|wind|hydro"),
    ("Paraphrase this sentence and keep it short: The shipment will arrive later than planned.", None),
    ("What is 1000 minus 357? Show your working.", r"\b643\b"),
    ("Explain what a for loop does, with a one-line Python example.", r"for\s+\w+\s+in"),
    ("Name the author of 'Hamlet' and give the century it was written in.", r"shakespeare"),
    ("Define 'photosynthesis' in one sentence.", r"light|sun"),
    ("Convert 3 hours and 30 minutes into minutes and explain the steps.", r"\b210\b"),
    ("What does CPU stand for? Answer briefly.", r"central processing unit"),
    ("Write a short apology e-mail for a late delivery, under 50 words.", r"sorry|apolog"),
    ("What is the freezing point of water in Celsius? Give the number and the unit.", r"\b0\b"),
]


def score(answer: str, checks: list[str]) -> list[bool]:
    return [re.search(check, answer, re.IGNORECASE | re.DOTALL) is not None for check in checks]


def run_model(llm: FusionChatModel, prompt: str, member: str | None = None) -> dict[str, Any]:
    """One request through ``llm`` (pinned to ``member`` when given): the answer and what the graph did."""
    started = time.perf_counter()
    message = llm.invoke(prompt, **({"model": member} if member else {}))
    wall = time.perf_counter() - started
    fusion = message.response_metadata["fusion"]
    plan = fusion.get("plan")
    return {
        "answer": str(message.content),
        "graph": plan is not None,
        "split": plan is not None and len(plan["subtasks"]) > 1,
        "plan_source": plan["source"] if plan else None,
        "why": plan.get("why") if plan else None,
        "subtasks": [s["task"] for s in plan["subtasks"]] if plan else [prompt],
        "subtask_models": [s["models"] for s in plan["subtasks"]] if plan else [fusion["models"]],
        "merge": fusion.get("merge"),
        "calls": len(fusion["calls"]),
        "cost_usd": fusion["cost_usd"],
        "wall_s": wall,
    }


def run_graph(graph: Any, prompt: str) -> dict[str, Any]:
    """The fusion graph over one member: the answer and the plan."""
    started = time.perf_counter()
    output = graph.invoke({"messages": [("user", prompt)]})
    wall = time.perf_counter() - started
    fusion = output["fusion"]
    plan = fusion["plan"]
    return {
        "answer": output["answer"],
        "graph": True,
        "split": len(plan["subtasks"]) > 1,
        "plan_source": plan["source"],
        "why": plan.get("why"),
        "subtasks": [s["task"] for s in plan["subtasks"]],
        "subtask_models": [s["models"] for s in plan["subtasks"]],
        "merge": fusion.get("merge"),
        "calls": len(fusion["calls"]),
        "cost_usd": fusion["cost_usd"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64, help="answer tokens of every call")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts of each set")
    parser.add_argument(
        "--threads", type=int, default=1, help="llama.cpp threads per member (1: steadier on a busy machine)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="write the report from the cached rows (finished so far)"
    )
    args = parser.parse_args()
    multi = MULTI_PART[: args.limit] if args.limit else MULTI_PART
    one = ONE_TASK[: args.limit] if args.limit else ONE_TASK
    pool = default_embedded_pool(n_threads=args.threads)  # one loaded copy of each member serves every system
    default = FusionChatModel(pool=pool, max_tokens=args.max_tokens)
    direct = FusionChatModel(pool=pool, max_tokens=args.max_tokens, decompose=False)
    members = pool.names
    graphs = {
        m: create_fusion_graph(
            llm=FusionChatModel(pool=ModelPool([pool[m]]), router="cheapest", max_tokens=args.max_tokens)
        )
        for m in members
    }
    runners: dict[str, Any] = {
        "default": lambda p: run_model(default, p),
        "direct": lambda p: run_model(direct, p),
    }
    for m in members:
        runners[f"whole:{m}"] = lambda p, m=m: run_model(direct, p, m)
        runners[f"split:{m}"] = lambda p, m=m: run_graph(graphs[m], p)
    cache_file = CACHE / f"rows-{args.max_tokens}-t{args.threads}.jsonl"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    if cache_file.exists():
        for line in cache_file.read_text().splitlines():
            row = json.loads(line)
            done[f"{row['system']}|{row['prompt']}"] = row
    jobs = [(p, system, len(c)) for p, c in multi for system in runners]
    jobs += [(p, system, 1) for p, _ in one for system in ("default", "direct")]
    for number, (prompt, system, _) in enumerate([] if args.report_only else jobs, 1):
        key = f"{system}|{prompt}"
        if key in done:
            continue
        row = runners[system](prompt)
        row.update(system=system, prompt=prompt)
        done[key] = row
        with cache_file.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"[{number}/{len(jobs)}] {system}: split={row['split']} in {row['wall_s']:.1f}s", flush=True)
    report(multi, one, done, list(runners), members, args.max_tokens)


def _complete(prompts: list[Any], rows: dict[str, dict[str, Any]], systems: list[str]) -> list[Any]:
    return [item for item in prompts if all(f"{s}|{item[0]}" in rows for s in systems)]


def report(
    multi: list[tuple[str, list[str]]],
    one: list[tuple[str, str | None]],
    rows: dict[str, dict[str, Any]],
    systems: list[str],
    members: list[str],
    max_tokens: int,
) -> None:
    multi_done = _complete(multi, rows, systems)
    one_done = _complete(one, rows, ["default", "direct"])
    n_parts = sum(len(c) for _, c in multi_done)
    lines = [
        "# Decomposition on the embedded local pool (live)",
        "",
        f"{len(multi_done)} of {len(multi)} multi-part prompts ({n_parts} checkable parts) and {len(one_done)} of "
        f"{len(one)} one-task prompts, this 2-core machine (shared with other work, so seconds are noisy). Every "
        f"call may write {max_tokens} tokens. A part is answered when its regex matches the final answer. The "
        "members are local and free, so cost is shown as calls and seconds per prompt.",
        "",
        "## Multi-part prompts",
        "",
        "| system | parts answered | prompts fully right | split | calls / prompt | s / prompt (p50, mean) |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"default": "default `FusionChatModel()`", "direct": "`FusionChatModel(decompose=False)`"}
    hits_by_system: dict[str, int] = {}
    for system in systems:
        parts, full, split, calls, walls = 0, 0, 0, [], []
        for prompt, checks in multi_done:
            row = rows[f"{system}|{prompt}"]
            hits = score(row["answer"], checks)
            parts += sum(hits)
            full += all(hits)
            split += row["split"]
            calls.append(row["calls"])
            walls.append(row["wall_s"])
        hits_by_system[system] = parts
        if not multi_done:
            break
        label = labels.get(system) or (
            f"{system.split(':', 1)[1]} answering whole"
            if system.startswith("whole:")
            else f"{system.split(':', 1)[1]} decomposed (plans, answers each part, merges)"
        )
        lines.append(
            f"| {label} | {parts}/{n_parts} ({parts / n_parts:.3f}) | {full}/{len(multi_done)} | "
            f"{split}/{len(multi_done)} | {statistics.mean(calls):.2f} | {statistics.median(walls):.1f}, "
            f"{statistics.mean(walls):.1f} |"
        )
    if multi_done:
        default_rows = [rows[f"default|{p}"] for p, _ in multi_done]
        merges: dict[str, int] = {}
        for row in default_rows:
            if row["split"] and row["merge"]:
                merges[row["merge"]["mode"]] = merges.get(row["merge"]["mode"], 0) + 1
        reasons: dict[str, int] = {}
        for row in default_rows:
            verdict = (row["why"] or "direct path").split(":")[0]
            reasons[verdict] = reasons.get(verdict, 0) + 1
        lines += [
            "",
            f"Target: the default answers at least as many parts as `decompose=False`: "
            f"{hits_by_system['default']} vs {hits_by_system['direct']} — "
            + ("**met**." if hits_by_system["default"] >= hits_by_system["direct"] else "**not met**."),
            "",
            "Why the default split or not (`fusion.plan.why`, up to the first colon): "
            + "; ".join(f"{count}× {why!r}" for why, count in sorted(reasons.items(), key=lambda kv: -kv[1]))
            + ".",
        ]
        if merges:
            lines.append(
                "Merges of the default's splits: " + ", ".join(f"{k} {v}" for k, v in merges.items()) + "."
            )
        for m in members:
            split_rows = [rows[f"split:{m}|{p}"] for p, _ in multi_done]
            modes: dict[str, int] = {}
            for row in split_rows:
                mode = (row["merge"] or {}).get("mode", "none") if row["split"] else "not split"
                check = (row["merge"] or {}).get("check") or ""
                key = f"{mode}, part lost → sectioned" if "lost" in check else mode
                modes[key] = modes.get(key, 0) + 1
            lines.append(
                f"`split:{m}` plans: " + ", ".join(f"{k} {v}" for k, v in sorted(modes.items())) + "."
            )
    if one_done:
        split = [p for p, _ in one_done if rows[f"default|{p}"]["split"]]
        graph = sum(rows[f"default|{p}"]["graph"] for p, _ in one_done)
        checkable = [(p, c) for p, c in one_done if c]
        right = {
            s: sum(score(rows[f"{s}|{p}"]["answer"], [c])[0] for p, c in checkable)
            for s in ("default", "direct")
        }
        walls = {s: [rows[f"{s}|{p}"]["wall_s"] for p, _ in one_done] for s in ("default", "direct")}
        share = len(split) / len(one_done)
        lines += [
            "",
            "## One-task prompts",
            "",
            "| system | split | right (of the checkable) | s / prompt (p50, mean) |",
            "|---|---|---|---|",
            f"| default `FusionChatModel()` | {len(split)}/{len(one_done)} ({share:.1%}) | "
            f"{right['default']}/{len(checkable)} | {statistics.median(walls['default']):.1f}, "
            f"{statistics.mean(walls['default']):.1f} |",
            f"| `FusionChatModel(decompose=False)` | – | {right['direct']}/{len(checkable)} | "
            f"{statistics.median(walls['direct']):.1f}, {statistics.mean(walls['direct']):.1f} |",
            "",
            f"Target: fewer than 5% of one-task prompts split: {share:.1%} — "
            + ("**met**." if share < 0.05 else "**not met**.")
            + f" {graph} of them went into the graph (the rule saw several clauses), where the expected-gain "
            "decision or the decomposer answered them whole.",
        ]
        if split:
            lines.append("Split: " + "; ".join(repr(p) for p in split) + ".")
    lines += [
        "",
        "Reproduce: `.venv/bin/python benchmarks/decomposition.py` (rows cached per prompt; delete "
        "`$EMAFUSION_CACHE_DIR/benchmarks/decomposition/` to re-measure).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
