"""Load: many concurrent `ainvoke`s through one FusionChatModel, and whether each got its own answer.

    .venv/bin/python benchmarks/load.py [--requests 100] [--local 5 | --local 0] [--seed 0]

Fires every request at once (``asyncio.gather``) at a pool of fake members that really await (0.2-1.0 s each,
some failing at random, so fallbacks happen) plus, for ``--local`` of the requests, the real embedded
``smollm2-135m`` model pinned with ``model=...`` (llama.cpp runs one call at a time per process). Every prompt
carries a unique id and every tenth an e-mail address, so the check "each answer is its own prompt echoed back"
also covers redaction and restoring under concurrency. Reports throughput, p50/p95 latency, fallbacks, errors
and audit-log lines; writes ``benchmarks/results/load.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from langchain_emafusion import AllMembersFailedError, FusionChatModel, ModelCard, ModelPool  # noqa: E402
from langchain_emafusion.privacy import read_audit_log  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "load.md"
LOCAL_MEMBER = "smollm2"


class LatencyEchoModel(BaseChatModel):
    """A fake member with realistic latency: awaits 0.2-1.0 s, fails at `failure_rate`, echoes the last message."""

    failure_rate: float = 0.0
    min_delay_s: float = 0.2
    max_delay_s: float = 1.0
    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "latency-echo"

    def _draw(self, messages: list[BaseMessage]) -> tuple[float, bool]:
        # Seeded by the prompt (unique per request), so which calls fail does not depend on scheduling.
        rng = random.Random(f"{self.seed}:{self.failure_rate}:{messages[-1].text}")
        return rng.uniform(self.min_delay_s, self.max_delay_s), rng.random() < self.failure_rate

    @staticmethod
    def _answer(messages: list[BaseMessage]) -> ChatResult:
        text = str(messages[-1].text)
        usage = {"input_tokens": len(text) // 4, "output_tokens": len(text) // 4 + 2}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        message = AIMessage(content=f"echo: {text}", usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fails = self._draw(messages)
        time.sleep(delay)
        if fails:
            raise RuntimeError("simulated member outage")
        return self._answer(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fails = self._draw(messages)
        await asyncio.sleep(delay)
        if fails:
            raise RuntimeError("simulated member outage")
        return self._answer(messages)


def build_pool(local: bool, seed: int) -> ModelPool:
    cards = [
        ModelCard(
            name="fast-public",
            model=LatencyEchoModel(failure_rate=0.2, seed=seed),
            input_price=0.1,
            output_price=0.4,
            latency_hint_s=0.6,
        ),
        ModelCard(
            name="big-public",
            model=LatencyEchoModel(failure_rate=0.1, seed=seed),
            input_price=2.5,
            output_price=10.0,
            latency_hint_s=0.6,
        ),
        ModelCard(
            name="private-fake",
            model=LatencyEchoModel(failure_rate=0.05, seed=seed),
            input_price=5.0,
            output_price=15.0,
            latency_hint_s=0.6,
            private=True,
        ),
    ]
    if local:
        from langchain_emafusion.pool.llamacpp import ChatGGUF

        cards.append(
            ModelCard(
                name=LOCAL_MEMBER,
                # One thread: llama.cpp's threads spin-wait for each other, so while the event loop and other
                # processes hold the cores a second thread slows each call down many times over.
                model=lambda: ChatGGUF.from_embedded("smollm2-135m", max_tokens=8, n_threads=1),
                latency_hint_s=2.0,  # above the fake requests' max_latency_s: never their fallback
                private=True,
            )
        )
    return ModelPool(cards)


async def one_request(llm: FusionChatModel, index: int, local: bool) -> dict[str, Any]:
    request_id = f"req-{index:03d}"
    prompt = f"[{request_id}] What is {index} plus {index}?"
    if index % 10 == 0:
        prompt += f" Reply to user{index}@example.com."
    options: dict[str, Any] = {"model": LOCAL_MEMBER} if local else {"max_latency_s": 1.0}
    started = time.perf_counter()
    try:
        message = await llm.ainvoke(prompt, **options)
    except AllMembersFailedError as error:
        return {"id": request_id, "latency_s": time.perf_counter() - started, "error": error, "local": local}
    fusion = message.response_metadata["fusion"]
    own_answer = (
        bool(message.content) and fusion["models"] == [LOCAL_MEMBER]
        if local
        else message.content == f"echo: {prompt}"
    )
    latency_s = time.perf_counter() - started
    return {
        "id": request_id,
        "latency_s": latency_s,
        "overhead_s": latency_s - sum(call["latency_s"] for call in fusion["calls"]),
        "own_answer": own_answer,
        "fallback": len(fusion["calls"]) > 1,
        "redacted": bool(fusion["privacy"]["redacted_for"]),
        "local": local,
    }


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(
    requests: int, local_requests: int, seed: int, audit: Path
) -> tuple[list[dict[str, Any]], float]:
    pool = build_pool(local_requests > 0, seed)
    if local_requests:
        started = time.perf_counter()
        await pool[LOCAL_MEMBER].get_model().ainvoke("Hi")  # load the weights outside the measurement
        print(f"local member loaded and warmed up in {time.perf_counter() - started:.1f} s", flush=True)
    llm = FusionChatModel(pool=pool, audit_log=audit, timeout=60)
    local_indexes = set(random.Random(seed).sample(range(requests), local_requests))
    started = time.perf_counter()
    results = await asyncio.gather(*(one_request(llm, i, i in local_indexes) for i in range(requests)))
    return list(results), time.perf_counter() - started


def report(results: list[dict[str, Any]], wall_s: float, audit_lines: int, local_requests: int) -> str:
    answered = [r for r in results if "error" not in r]
    latencies = [r["latency_s"] for r in answered]
    fake = [r["latency_s"] for r in answered if not r["local"]]
    local = [r["latency_s"] for r in answered if r["local"]]
    overheads = [r["overhead_s"] for r in answered]
    wrong = [r["id"] for r in answered if not r["own_answer"]]
    rows = [
        ("requests fired at once", f"{len(results)} ({local_requests} pinned to the real local member)"),
        ("wall time", f"{wall_s:.2f} s"),
        ("throughput", f"{len(answered) / wall_s:.1f} answered requests/s"),
        ("latency p50 / p95 / max (all)", f"{percentile(latencies, 50):.2f} / {percentile(latencies, 95):.2f} / "
         f"{max(latencies):.2f} s"),
        ("latency p50 / p95 (fake members)", f"{percentile(fake, 50):.2f} / {percentile(fake, 95):.2f} s"),
        ("fusion overhead p50 / p95 (latency minus member-call time)",
         f"{percentile(overheads, 50) * 1000:.1f} / {percentile(overheads, 95) * 1000:.1f} ms"),
        ("latency of the local member requests",
         ", ".join(f"{value:.2f}" for value in sorted(local)) + " s" if local else "n/a"),
        ("answered", f"{len(answered)}"),
        ("every answer its own (no cross-talk)", "yes" if not wrong else f"NO: {wrong}"),
        ("answered after a fallback", f"{sum(r['fallback'] for r in answered)}"),
        ("answered by a public member on redacted text, restored", f"{sum(r['redacted'] for r in answered)}"),
        ("all members failed (typed error)", f"{len(results) - len(answered)}"),
        ("audit log lines (one per member call)", f"{audit_lines}"),
    ]  # fmt: skip
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        "# Load: concurrent `ainvoke`s through one FusionChatModel\n\n"
        f"Machine: {platform.machine()}, Python {platform.python_version()}. Fake members await 0.2-1.0 s and "
        "fail 20% / 10% / 5% of calls (so the router falls back); every tenth prompt carries an e-mail address, "
        "which the public fakes only see as a placeholder. A request counts as answered correctly when the "
        "answer is its own prompt echoed back (the local member's requests: when the local member answered).\n\n"
        "| measure | value |\n|---|---|\n"
        f"{table}\n\n"
        "Regenerate: `.venv/bin/python benchmarks/load.py`\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument(
        "--local", type=int, default=5, help="requests pinned to the real local member (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        audit = Path(folder) / "audit.jsonl"
        results, wall_s = asyncio.run(run(args.requests, args.local, args.seed, audit))
        audit_lines = len(read_audit_log(audit))
    text = report(results, wall_s, audit_lines, args.local)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    if any("error" not in r and not r["own_answer"] for r in results):
        raise SystemExit("cross-talk: some request got an answer that is not its own")


if __name__ == "__main__":
    main()
