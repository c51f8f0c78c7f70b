"""Load: many concurrent `ainvoke`s through one FusionChatModel, and whether each got its own answer.

    .venv/bin/python benchmarks/load.py [--requests 100] [--local 5 | --local 0] [--seed 0] [--scenarios 0]

Fires every request at once (``asyncio.gather``) at a pool of fake members that really await (0.2-1.0 s each,
some failing at random, so fallbacks happen) plus, for ``--local`` of the requests, the real embedded
``smollm2-135m`` model pinned with ``model=...`` (llama.cpp runs one call at a time per process). Every prompt
carries a unique id and every tenth an e-mail address, so the check "each answer is its own prompt echoed back"
also covers redaction and restoring under concurrency. Reports throughput, p50/p95 latency, fallbacks, errors
and audit-log lines.

Then three scenarios with a trained 9-model tier-1 + tier-2 router (the policy ``served_overhead.py`` trains on
llmrouter's training split) over nine fake members named after llmrouter's models (0.05-0.3 s, 5% failures),
``--requests`` concurrent ~300-token prompts each: the router's own choices (tier 2's strategy table), tier 2 forced
to ``vote`` over the top three, and multi-part prompts through the fusion graph (decompose, route each part,
merge). Each reports req/s, p50/p95 latency and the fused call's overhead (latency minus member-call time) with
the library's default settings. Writes ``benchmarks/results/load.md``.
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
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

from langchain_emafusion import AllMembersFailedError, FusionChatModel, ModelCard, ModelPool  # noqa: E402
from langchain_emafusion.pool.card import Capabilities  # noqa: E402
from langchain_emafusion.privacy import read_audit_log  # noqa: E402
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest  # noqa: E402

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

    label: str = ""
    """Tells members apart in the draws (members with one label fail on the same prompts)."""
    _attempts: dict[str, int] = PrivateAttr(default_factory=dict)

    def _draw(self, messages: list[BaseMessage]) -> tuple[float, bool]:
        # Seeded by the member, the prompt (unique per request) and the attempt, so which calls fail does not
        # depend on scheduling, and a retry draws anew.
        text = str(messages[-1].text)
        attempt = self._attempts[text] = self._attempts.get(text, 0) + 1
        rng = random.Random(f"{self.seed}:{self.failure_rate}:{self.label}:{attempt}:{text}")
        return rng.uniform(self.min_delay_s, self.max_delay_s), rng.random() < self.failure_rate

    @staticmethod
    def _answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        text = str(messages[-1].text)
        usage = {"input_tokens": len(text) // 4, "output_tokens": len(text) // 4 + 2}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        # Asked for a decomposition plan: return the fusion graph's draft plan as it is (a perfect decomposer).
        draft = text.rfind('{"subtasks"')
        reply = text[draft:] if kwargs.get("response_format") and draft >= 0 else f"echo: {text}"
        message = AIMessage(content=reply, usage_metadata=usage)
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
            raise ConnectionError("simulated member outage")
        return self._answer(messages, kwargs)

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
            raise ConnectionError("simulated member outage")
        return self._answer(messages, kwargs)


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
    llm.privacy_policy.redactor().redact(
        "Warm up the detectors, Maria."
    )  # the NER model loads outside the run
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


# --- scenarios with a trained router ---------------------------------------------------------------------------


class ForcedVote(Router):
    """The trained router's ranking, with tier 2 asked to ``vote`` over its top three members."""

    name = "trained-vote"

    def __init__(self, trained: Any) -> None:
        self.trained = trained

    @property
    def tier2(self) -> Any:
        return self.trained.tier2

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        decision: RoutingDecision = self.trained.route(request, pool)
        return decision.model_copy(update={"strategy": "vote", "models": decision.models[:3]})


def trained_pool(names: list[str], seed: int) -> ModelPool:
    return ModelPool(
        [
            ModelCard(
                name=name,
                model=LatencyEchoModel(
                    failure_rate=0.05, min_delay_s=0.05, max_delay_s=0.3, seed=seed, label=name
                ),
                input_price=1.0,
                output_price=2.0,
                capabilities=Capabilities(structured_output=True),
            )
            for name in names
        ]
    )


def scenario_prompt(scenario: str, index: int, base: str) -> str:
    if scenario == "graph":
        return (
            f"Do three things: 1) compute {index} times 7; 2) name the capital of country number {index}; "
            f"3) write one sentence thanking customer {index} for their order."
        )
    # A prefix of its own per scenario: the encoder's and the detectors' caches must not carry over.
    return f"[{scenario}-{index:03d}] {base}"


def member_time(calls: list[dict[str, Any]], *, parallel: bool) -> float:
    """Wall time spent waiting on members: calls of one stage run at once (a vote's, a wave of subtasks)."""
    if not parallel:
        return sum(call["latency_s"] for call in calls)
    stages: dict[str, float] = {}
    for call in calls:
        stage = str(call.get("stage", "vote"))
        stages[stage] = max(stages.get(stage, 0.0), call["latency_s"])
    return sum(stages.values())


async def one_scenario_request(
    llm: FusionChatModel, scenario: str, index: int, prompt: str
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        message = await llm.ainvoke(prompt)
    except AllMembersFailedError as error:
        return {"latency_s": time.perf_counter() - started, "error": error}
    latency_s = time.perf_counter() - started
    fusion = message.response_metadata["fusion"]
    text = str(message.content)
    calls = fusion["calls"]  # the graph's: the plan's, each part's and the merge's, by stage
    if scenario == "graph":
        own = f"customer {index} " in text and f"{index} times 7" in text
        strategy = f"graph ({len(fusion['plan']['subtasks'])} parts)"
    else:
        own = text.startswith(f"echo: [{scenario}-{index:03d}]")
        strategy = fusion["strategy"]
    member_s = member_time(calls, parallel=scenario != "trained")
    return {"latency_s": latency_s, "overhead_s": latency_s - member_s, "own": own, "strategy": strategy}


async def run_scenario(scenario: str, requests: int, seed: int) -> tuple[list[dict[str, Any]], float]:
    from _data import llmrouter_split
    from served_overhead import policy_dir, prompts_of_300_tokens

    train, _ = llmrouter_split()
    pool = trained_pool(list(train.models), seed)
    llm = FusionChatModel(pool=pool, router=str(policy_dir()), timeout=30, decompose=scenario == "graph")
    if scenario == "vote":
        llm = FusionChatModel(pool=pool, router=ForcedVote(llm.resolved_router), timeout=30, decompose=False)
    bases = prompts_of_300_tokens(requests + 5)
    for base in bases[:5]:  # load the predictor and the encoder outside the measurement
        await llm.ainvoke(base, max_tokens=8)
    prompts = [scenario_prompt(scenario, i, base) for i, base in enumerate(bases[5:])]
    started = time.perf_counter()
    results = await asyncio.gather(
        *(one_scenario_request(llm, scenario, i, prompt) for i, prompt in enumerate(prompts))
    )
    return list(results), time.perf_counter() - started


def scenario_row(name: str, results: list[dict[str, Any]], wall_s: float) -> str:
    answered = [r for r in results if "error" not in r]
    latencies = [r["latency_s"] for r in answered]
    overheads = [r["overhead_s"] * 1000 for r in answered]
    strategies: dict[str, int] = {}
    for r in answered:
        strategies[r["strategy"]] = strategies.get(r["strategy"], 0) + 1
    own = sum(r["own"] for r in answered)
    return (
        f"| {name} | {len(answered)}/{len(results)} | {own} | {len(answered) / wall_s:.1f} | "
        f"{percentile(latencies, 50):.2f} / {percentile(latencies, 95):.2f} | "
        f"{percentile(overheads, 50):.1f} / {percentile(overheads, 95):.1f} | {strategies} |"
    )


SCENARIOS = {
    "trained": "trained router, its own strategies",
    "vote": "trained ranking, tier 2 `vote` over the top 3",
    "graph": "multi-part prompts through the fusion graph",
}


def scenarios_report(rows: list[str], requests: int) -> str:
    return (
        "\n\n## With a trained 9-model tier-1 + tier-2 router\n\n"
        f"{requests} concurrent requests per scenario, ~300-token llmrouter test prompts (the graph scenario: "
        "three-part prompts), nine fake members named after llmrouter's models (0.05-0.3 s, 5% failures, "
        "retried); library defaults. Overhead = latency minus the time spent waiting on members (a vote's calls "
        "and a wave of graph parts run at once: the slowest counts; the graph's plan and merge calls add up), so "
        "under load it is mostly the queue for the routing and privacy threads. Own answer: the answer is the request's own prompt echoed "
        "(graph: holds parts 1 and 3 of its own prompt).\n\n"
        "| scenario | answered | own answer | req/s | latency p50 / p95 s | overhead p50 / p95 ms | "
        "strategies run |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
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
    parser.add_argument(
        "--scenarios", type=int, default=100, help="requests per trained-router scenario (0: skip them)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        audit = Path(folder) / "audit.jsonl"
        results, wall_s = asyncio.run(run(args.requests, args.local, args.seed, audit))
        audit_lines = len(read_audit_log(audit))
    text = report(results, wall_s, audit_lines, args.local)
    if args.scenarios:
        rows = []
        for scenario, name in SCENARIOS.items():
            scenario_results, scenario_wall = asyncio.run(run_scenario(scenario, args.scenarios, args.seed))
            rows.append(scenario_row(name, scenario_results, scenario_wall))
            print(rows[-1], flush=True)
        text = text.replace("\nRegenerate:", scenarios_report(rows, args.scenarios) + "\nRegenerate:")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    if any("error" not in r and not r["own_answer"] for r in results):
        raise SystemExit("cross-talk: some request got an answer that is not its own")


if __name__ == "__main__":
    main()
