"""Throughput of the embedded local pool on this machine, and FusionChatModel's overhead over a direct call.

Run: .venv/bin/python benchmarks/local_pool.py [--tokens 64] [--repeats 3]
Writes benchmarks/results/local_pool.md. Run it on an otherwise idle machine: llama.cpp's threads spin while
they wait for each other, so a busy second core slows decoding several-fold.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from langchain_emafusion import ChatGGUF, FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.pool.weights import DEFAULT_EMBEDDED_MODELS, EMBEDDED_MODELS, embedded_card_defaults

PROMPT = "Write a short paragraph about the history of the bicycle."
RESULTS = Path(__file__).parent / "results" / "local_pool.md"


def measure(model: ChatGGUF, tokens: int, repeats: int) -> dict[str, float]:
    started = time.perf_counter()
    model.invoke("Hi", max_tokens=1)  # loads the weights
    load_s = time.perf_counter() - started
    first_token, rates = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        first = None
        usage = None
        for chunk in model.stream(PROMPT, max_tokens=tokens):
            if first is None and chunk.content:
                first = time.perf_counter() - started
            usage = chunk.usage_metadata or usage
        total = time.perf_counter() - started
        assert usage is not None and first is not None
        first_token.append(first)
        rates.append(max(usage["output_tokens"] - 1, 1) / max(total - first, 1e-9))
    return {"load_s": load_s, "ttft_s": statistics.median(first_token), "tok_per_s": statistics.median(rates)}


def fusion_overhead(name: str, repeats: int) -> tuple[float, float]:
    member = ChatGGUF.from_embedded(name, max_tokens=8)
    pool = ModelPool([ModelCard(name=name, model=member, **embedded_card_defaults(EMBEDDED_MODELS[name]))])
    fusion = FusionChatModel(pool=pool)
    direct, fused = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        member.invoke("Say yes.")
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        fusion.invoke("Say yes.")
        fused.append(time.perf_counter() - started)
    return statistics.median(direct), statistics.median(fused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = ["| model | load s | time to first token s | decode tok/s |", "|---|---|---|---|"]
    for name in DEFAULT_EMBEDDED_MODELS:
        figures = measure(ChatGGUF.from_embedded(name), args.tokens, args.repeats)
        rows.append(
            f"| {name} | {figures['load_s']:.2f} | {figures['ttft_s']:.3f} | {figures['tok_per_s']:.1f} |"
        )
        print(rows[-1])
    direct, fused = fusion_overhead(DEFAULT_EMBEDDED_MODELS[0], max(args.repeats, 5))
    overhead = (
        f"FusionChatModel over a direct ChatGGUF call ({DEFAULT_EMBEDDED_MODELS[0]}, 8 tokens, median): "
        f"direct {direct * 1000:.1f} ms, fused {fused * 1000:.1f} ms, overhead {(fused - direct) * 1000:.1f} ms"
    )
    print(overhead)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Embedded local pool on this machine\n\n" + "\n".join(rows) + "\n\n" + overhead + "\n"
    )


if __name__ == "__main__":
    main()
