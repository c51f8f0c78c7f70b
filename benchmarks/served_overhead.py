"""A fused call's overhead as served: a trained 9-model tier-1 + tier-2 router, ~300-token prompts.

    .venv/bin/python benchmarks/served_overhead.py [--calls 200]

Trains (once, cached) the project's policy on llmrouter's training split — the same ``train_policy`` as
``emafusion train`` — and serves it from a ``FusionChatModel`` over nine members that answer at once (fakes with
native async), so what is measured is everything the library adds: checks, privacy scan, routing on the routing
thread (prompt encoder, predictor, selector), tier 2 when the strategy table asks for it, metadata. Each call's
overhead is its latency minus the time its member calls took. Two runs, each in a fresh process: the library's
defaults (routing thread with torch pinned to 1 thread there), and torch left at its default thread count on the
routing thread. Also ``cheapest`` (no model) for reference. Writes ``benchmarks/results/served_overhead.md``.
Target (issue 16): p50 <= 15 ms with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import CACHE, llmrouter_split  # noqa: E402
from langchain_core.language_models.fake_chat_models import FakeListChatModel  # noqa: E402

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool  # noqa: E402
from langchain_emafusion.evaluation.table import write_outcomes  # noqa: E402
from langchain_emafusion.evaluation.training import train_policy  # noqa: E402
from langchain_emafusion.pipeline import pipeline  # noqa: E402
from langchain_emafusion.privacy import PrivacyPolicy  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "served_overhead.md"
POLICY = CACHE / "llmrouter" / "served-policy"


def policy_dir() -> Path:
    """The trained tier-1 + tier-2 policy (trained here once, then cached)."""
    if not (POLICY / "tier2.json").is_file():
        train, _ = llmrouter_split()
        path = CACHE / "llmrouter" / "served-train.jsonl"
        write_outcomes(train, path)
        train_policy(path, POLICY, progress=True)
    return POLICY


def prompts_of_300_tokens(n: int) -> list[str]:
    """n distinct prompts of ~1,200 characters (~300 tokens): test prompts, repeated and cut to length."""
    _, test = llmrouter_split()
    out = []
    for i, prompt in enumerate(test.prompts):
        text = (prompt + "\n") * (1 + 1200 // max(len(prompt), 1))
        out.append(f"[{i}] " + text[:1200])
        if len(out) == n:
            break
    return out


def instant_pool(names: list[str]) -> ModelPool:
    return ModelPool(
        [
            ModelCard(
                name=name,
                model=FakeListChatModel(responses=["The answer is B."]),
                input_price=1.0,
                output_price=2.0,
            )
            for name in names
        ]
    )


async def measure(router: Any, calls: int, ner: bool = True) -> dict[str, Any]:
    train, _ = llmrouter_split()
    llm = FusionChatModel(
        pool=instant_pool(list(train.models)),
        router=router,
        decompose=False,
        privacy=PrivacyPolicy(ner=ner),
    )
    prompts = prompts_of_300_tokens(calls + 10)
    for prompt in prompts[:10]:  # load the predictor and encoder outside the measurement
        await llm.ainvoke(prompt)
    overheads, strategies = [], []
    for prompt in prompts[10:]:
        started = time.perf_counter()
        message = await llm.ainvoke(prompt)
        total = time.perf_counter() - started
        fusion = message.response_metadata["fusion"]
        overheads.append((total - sum(c["latency_s"] for c in fusion["calls"])) * 1000)
        strategies.append(fusion["strategy"])
    overheads.sort()
    return {
        "p50_ms": statistics.median(overheads),
        "p95_ms": overheads[int(0.95 * (len(overheads) - 1))],
        "strategies": {name: strategies.count(name) for name in sorted(set(strategies))},
    }


def child(args: argparse.Namespace) -> None:
    if args.torch_threads:
        pipeline.ROUTING_TORCH_THREADS = args.torch_threads
    router = "cheapest" if args.router == "cheapest" else str(policy_dir())
    print(json.dumps(asyncio.run(measure(router, args.calls, ner=not args.rules_only))))


def run_child(calls: int, router: str, torch_threads: int = 0, rules_only: bool = False) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--calls", str(calls), "--router", router]
    if torch_threads:
        command += ["--torch-threads", str(torch_threads)]
    if rules_only:
        command += ["--rules-only"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - this script
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--router", default="trained", help=argparse.SUPPRESS)
    parser.add_argument("--torch-threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rules-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    policy_dir()  # train once, before the timed children
    import os

    cores = os.cpu_count() or 1
    import importlib.util

    from langchain_emafusion.privacy.ner import SPACY_MODELS

    installed = any(importlib.util.find_spec(name) for name in SPACY_MODELS)
    privacy = "rules + NER (privacy-ner installed)" if installed else "rules (privacy-ner not installed)"
    rows = [
        (
            f"trained 9-model tier 1 + tier 2, library defaults: privacy {privacy}",
            run_child(args.calls, "trained"),
        ),
        (
            "trained, privacy rules only (`PrivacyPolicy(ner=False)`)",
            run_child(args.calls, "trained", rules_only=True),
        ),
        (f"trained, torch at {cores} threads on the routing thread", run_child(args.calls, "trained", cores)),
        ("cheapest (no model), library defaults", run_child(args.calls, "cheapest")),
        ("cheapest, privacy rules only", run_child(args.calls, "cheapest", rules_only=True)),
    ]
    table = "\n".join(
        f"| {name} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['strategies']} |" for name, r in rows
    )
    text = (
        "# A fused call's overhead as served\n\n"
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}. {args.calls} sequential "
        "`ainvoke`s of ~300-token llmrouter test prompts through `FusionChatModel(router=<trained folder>)` over "
        "nine instant members; overhead = latency minus the member calls' time. Target: p50 <= 15 ms.\n\n"
        "| router | p50 ms | p95 ms | strategies run |\n|---|---|---|---|\n"
        f"{table}\n\n"
        "Regenerate: `.venv/bin/python benchmarks/served_overhead.py`\n"
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
