"""Decomposition on the embedded local pool: per-part accuracy and cost of the fusion graph vs single models.

Each of the 30+ prompts below holds 2-3 parts, each with a checker (a regex the answer must contain). Every
prompt goes (a) through the fusion graph FusionChatModel uses for multi-task prompts (cheap rule, decomposer,
one routed call per subtask, LLM merge) and (b) whole, in one call, to each single local model. A part counts as answered when its checker
matches the final answer; for the graph we also score the concatenated subtask answers (what
``merge="concatenate"`` returns, no merge call). Cost: the local members are free ($0), so the cost columns
are calls, tokens and wall time per prompt.

Run: .venv/bin/python benchmarks/decomposition.py [--max-tokens 32] [--limit N] [--threads 1]
Writes benchmarks/results/decomposition.md. Results per prompt are cached (resumable) under
$EMAFUSION_CACHE_DIR/benchmarks/decomposition/. On a busy 2-core machine the full run takes ~20-40 min.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from langchain_emafusion import FusionChatModel
from langchain_emafusion.graph import create_fusion_graph
from langchain_emafusion.pool.embedded import default_embedded_pool
from langchain_emafusion.pool.weights import cache_dir

RESULTS = Path(__file__).parent / "results" / "decomposition.md"
CACHE = cache_dir() / "benchmarks" / "decomposition"

# (prompt, [regex per part]); regexes are matched case-insensitively anywhere in the answer.
PROMPTS: list[tuple[str, list[str]]] = [
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


def score(answer: str, checks: list[str]) -> list[bool]:
    return [re.search(check, answer, re.IGNORECASE) is not None for check in checks]


def run_graph(graph: Any, prompt: str) -> dict[str, Any]:
    """The graph FusionChatModel runs for multi-task prompts, streamed to also keep each subtask's answer."""
    started = time.perf_counter()
    subtask_answers: dict[str, str] = {}
    output: dict[str, Any] = {}
    for update in graph.stream({"messages": [("user", prompt)]}, stream_mode="updates"):
        for node, values in update.items():
            if node == "execute":
                subtask_answers.update({r["id"]: r["answer"] for r in values["results"]})
            elif node == "merge":
                output = values
    wall = time.perf_counter() - started
    fusion = output["fusion"]
    subtasks = fusion["plan"]["subtasks"]
    usage = output["messages"][-1].usage_metadata or {"input_tokens": 0, "output_tokens": 0}
    return {
        "answer": output["answer"],
        # What merge="concatenate" returns: the subtask answers in plan order, without the merge call.
        "subtask_answers": [subtask_answers[s["id"]] for s in subtasks],
        "plan_source": fusion["plan"]["source"],
        "plan_error": fusion["plan"]["error"],
        "subtasks": [s["task"] for s in subtasks],
        "subtask_models": [s["models"] for s in subtasks],
        "calls": len(fusion["calls"]),
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cost_usd": fusion["cost_usd"],
        "wall_s": wall,
    }


def run_single(llm: FusionChatModel, prompt: str, member: str) -> dict[str, Any]:
    started = time.perf_counter()
    message = llm.invoke(prompt, model=member)  # pinned: the direct path, the whole prompt in one call
    wall = time.perf_counter() - started
    return {
        "answer": str(message.content),
        "calls": 1,
        "input_tokens": message.usage_metadata["input_tokens"] if message.usage_metadata else 0,
        "output_tokens": message.usage_metadata["output_tokens"] if message.usage_metadata else 0,
        "cost_usd": message.response_metadata["fusion"]["cost_usd"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=32, help="answer tokens per subtask call")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="llama.cpp threads per member (1: steadier on a busy 2-core machine)",
    )
    parser.add_argument("--router", default="cheapest", help="router of the graph's calls")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the cached rows (prompts finished so far)",
    )
    args = parser.parse_args()
    prompts = PROMPTS[: args.limit] if args.limit else PROMPTS
    # Whole-prompt answers get as many tokens as the graph's subtasks together (3 parts at most).
    whole_tokens = args.max_tokens * 3
    single_llm = FusionChatModel(
        pool=default_embedded_pool(n_threads=args.threads),
        router=args.router,
        max_tokens=whole_tokens,
        decompose=False,
    )
    members = single_llm.resolved_pool.names  # resolved before copying: the copy shares the loaded members
    # The same members (one loaded copy of each) serve the graph, with the per-subtask token limit.
    graph = create_fusion_graph(llm=single_llm.model_copy(update={"max_tokens": args.max_tokens}))
    cache_file = CACHE / f"results-{args.max_tokens}-t{args.threads}.jsonl"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    if cache_file.exists():
        for line in cache_file.read_text().splitlines():
            row = json.loads(line)
            done[f"{row['system']}|{row['prompt']}"] = row
    graph_system = f"graph[{args.router}]"
    for number, (prompt, checks) in enumerate([] if args.report_only else prompts, 1):
        for system in [graph_system, *members]:
            key = f"{system}|{prompt}"
            if key in done:
                continue
            row = (
                run_graph(graph, prompt) if system == graph_system else run_single(single_llm, prompt, system)
            )
            row.update(system=system, prompt=prompt)
            done[key] = row
            with cache_file.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(
                f"[{number}/{len(prompts)}] {system}: {sum(score(row['answer'], checks))}/{len(checks)} "
                f"in {row['wall_s']:.1f}s",
                flush=True,
            )
    finished = [
        (p, c) for p, c in prompts if all(f"{system}|{p}" in done for system in [graph_system, *members])
    ]
    report(finished, len(prompts), done, graph_system, members, args.max_tokens, whole_tokens)


def report(
    prompts: list[tuple[str, list[str]]],
    planned: int,
    rows: dict[str, dict[str, Any]],
    graph_system: str,
    members: list[str],
    max_tokens: int,
    whole_tokens: int,
) -> None:
    lines = [
        "# Decomposition benchmark (embedded local pool)",
        "",
        (
            f"{len(prompts)}"
            if len(prompts) == planned
            else f"{len(prompts)} of the {planned} (run unfinished)"
        )
        + f" multi-part prompts ({sum(len(c) for _, c in prompts)} checkable parts), this 2-core "
        f"machine (shared, busy). Graph: FusionChatModel (router `{graph_system[6:-1]}`), {max_tokens} answer tokens per "
        f"subtask call; single models: the whole prompt in one call with {whole_tokens} answer tokens. A part "
        "is right when its regex matches the answer. All members are local: $0 per prompt, so cost is shown "
        "as calls, tokens and wall time.",
        "",
        "| system | per-part accuracy | prompts fully right | calls / prompt | tokens in+out / prompt | "
        "wall s / prompt (p50) |",
        "|---|---|---|---|---|---|",
    ]
    systems = [
        ("graph (LLM merge)", graph_system, "answer"),
        ("graph, subtask answers concatenated", graph_system, "concat"),
    ]
    systems += [(f"single: {m}", m, "answer") for m in members]
    for label, system, field in systems:
        parts, full, calls, tokens, walls = [], 0, [], [], []
        for prompt, checks in prompts:
            row = rows[f"{system}|{prompt}"]
            text = "\n".join(row["subtask_answers"]) if field == "concat" else row["answer"]
            hits = score(text, checks)
            parts.extend(hits)
            full += all(hits)
            calls.append(
                row["calls"]
                - (
                    1
                    if field == "concat" and row["plan_source"] == "decomposer" and len(row["subtasks"]) > 1
                    else 0
                )
            )
            tokens.append(row["input_tokens"] + row["output_tokens"])
            walls.append(row["wall_s"])
        lines.append(
            f"| {label} | {sum(parts) / len(parts):.3f} | {full}/{len(prompts)} | {statistics.mean(calls):.2f} | "
            f"{statistics.mean(tokens):.0f} | {statistics.median(walls):.1f} |"
        )
    graph_rows = [rows[f"{graph_system}|{p}"] for p, _ in prompts]
    sources = {s: sum(r["plan_source"] == s for r in graph_rows) for s in ("decomposer", "fallback", "rule")}
    sizes = [len(r["subtasks"]) for r in graph_rows]
    lines += [
        "",
        f"Plans: {sources['decomposer']} from the decomposer, {sources['fallback']} fell back to one subtask "
        f"(invalid plan or no member), {sources['rule']} judged single-task by the rule; subtasks per plan: "
        f"mean {statistics.mean(sizes):.2f}, parts per prompt {statistics.mean(len(c) for _, c in prompts):.2f}.",
        "Every graph call goes where the router sends it: with `cheapest` and two free members, SmolLM2 (the lower "
        "latency hint) plans, answers every subtask and merges; the single-model rows pin one member instead.",
        "For 'concatenated', the merge call is not counted (that is `merge=\"concatenate\"`); tokens and wall "
        "time still include it.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/decomposition.py` (results cached per prompt; delete "
        "`$EMAFUSION_CACHE_DIR/benchmarks/decomposition/` to re-measure).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
