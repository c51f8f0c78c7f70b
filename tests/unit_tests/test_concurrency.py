"""Concurrency and faults on the request pipeline: many requests at once, failing and slow members, no hangs.

Every test is bounded (pytest-timeout and ``asyncio.wait_for``): a deadlock fails the test instead of hanging
the suite. The members are real LangChain chat models: scripted fakes with native async, sync-only ones (whose
``ainvoke`` runs in the event loop's executor, the case that used to deadlock tier 2) and flaky ones.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from langchain_emafusion.chat_models import FusionChatModel
from langchain_emafusion.errors import AllMembersFailedError
from langchain_emafusion.fusion.judge import AnswerJudge
from langchain_emafusion.fusion.model import ALL_TASKS, Tier2Model
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, eligible_cards
from tests.unit_tests.fakes import ScriptedChatModel

pytestmark = pytest.mark.timeout(180)


class SyncOnlyModel(ScriptedChatModel):
    """A member without native async: langchain-core runs its sync code in the loop's executor."""

    _agenerate = BaseChatModel._agenerate  # type: ignore[assignment]
    _astream = BaseChatModel._astream  # type: ignore[assignment]


class FlakyModel(ScriptedChatModel):
    """Fails every ``every``-th call with a retryable error (10% with every=10), thread-safely."""

    every: int = 10
    _count: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            self._count += 1
            fail = self._count % self.every == 0
        if fail:
            raise ConnectionError("injected failure")
        return super()._reply(messages, kwargs)


class StallingStream(ScriptedChatModel):
    """Answers ``invoke`` at once but its stream sends nothing for ``stall_s`` seconds."""

    stall_s: float = 5.0

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        time.sleep(self.stall_s)
        yield from super()._stream(messages, stop, run_manager, **kwargs)

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ):  # type: ignore[no-untyped-def, override]
        await asyncio.sleep(self.stall_s)
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk


class FixedVoteRouter(Router):
    """Ranks the pool in its order and asks tier 2 for one strategy: routing without a trained predictor."""

    name = "fixed-vote"

    def __init__(self, strategy: str = "vote", quality: dict[str, float] | None = None) -> None:
        self.strategy = strategy
        self.quality = quality or {}
        self.tier2: Tier2Model | None = None

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        names = [card.name for card in eligible_cards(request, pool)]
        if self.tier2 is None:
            judge = AnswerJudge(pool.names, answers_expected=True)
            self.tier2 = Tier2Model(judge, [0.0], {ALL_TASKS: [self.strategy]}, answers_expected=True)
        return RoutingDecision(
            models=names,
            strategy=self.strategy,
            router=self.name,
            reason="fixed order",
            scores={name: self.quality.get(name, 0.6) for name in names},
            details={"expected_cost_usd": {name: 0.001 for name in names}, "quality_cost_tradeoff": 0.0},
        )


def _card(name: str, model: BaseChatModel) -> ModelCard:
    return ModelCard(name=name, model=model, input_price=1.0, output_price=1.0)


def _mixed_pool() -> ModelPool:
    return ModelPool(
        [
            _card("slow", ScriptedChatModel(reply="The answer is 12", delay_s=3.0)),  # past the timeout
            _card("sync-a", SyncOnlyModel(reply="The answer is 12", delay_s=0.01)),
            _card("flaky", FlakyModel(reply="The answer is 12", delay_s=0.01)),
            _card("sync-b", SyncOnlyModel(reply="The answer is 13", delay_s=0.02)),
            _card("async", ScriptedChatModel(reply="The answer is 12", delay_s=0.01)),
        ]
    )


async def test_two_hundred_concurrent_tier2_votes_all_answer_or_fail_typed() -> None:
    llm = FusionChatModel(
        pool=_mixed_pool(), router=FixedVoteRouter("vote"), timeout=0.5, max_retries=1, decompose=False
    )

    async def one(i: int) -> Any:
        try:
            return await llm.ainvoke(f"How many apples: 5 plus 7? (request {i})")
        except AllMembersFailedError as exc:
            return exc

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), timeout=120)
    answered = [r for r in results if isinstance(r, AIMessage)]
    assert len(answered) + sum(isinstance(r, AllMembersFailedError) for r in results) == 200
    assert len(answered) == 200  # with five members and replacements, every request finds three answers
    for message in answered:
        fusion = message.response_metadata["fusion"]
        assert fusion["strategy"] == "vote" and message.content == "The answer is 12"
        # The slow member timed out every time and was replaced by the next ranked one, never called twice.
        assert "slow" not in fusion["models"] and len(fusion["models"]) == 3
        assert sum(1 for c in fusion["calls"] if c["model"] == "slow") == 2  # its two attempts, then dropped
        assert len(set(fusion["models"])) == len(fusion["models"])


async def test_concurrent_streams_with_a_stalled_member_fall_over_to_the_next() -> None:
    pool = ModelPool(
        [
            _card("stalls", StallingStream(reply="never streamed", stall_s=5.0)),
            _card("sync", SyncOnlyModel(reply="streamed answer here")),
        ]
    )
    # 2 s: the sync member's 50 streams share the default executor's few threads on a 2-core CI machine, so
    # its first chunk can wait ~1 s; the stalled member (5 s) is still far past it.
    llm = FusionChatModel(pool=pool, router="cheapest", timeout=2.0, decompose=False)

    async def one() -> str:
        return "".join([str(chunk.content) async for chunk in llm.astream("hello")])

    texts = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(50))), timeout=60)
    assert texts == ["streamed answer here"] * 50


async def test_tier2_replaces_a_failed_member_with_the_next_ranked_and_never_calls_it_again() -> None:
    broken = ScriptedChatModel(reply="x", fail_times=100)
    pool = ModelPool(
        [
            _card("broken", broken),
            _card("a", ScriptedChatModel(reply="The answer is 4")),
            _card("b", ScriptedChatModel(reply="The answer is 4")),
        ]
    )
    message = await FusionChatModel(
        pool=pool, router=FixedVoteRouter("select"), max_retries=2, decompose=False
    ).ainvoke("What is 2 plus 2?")
    fusion = message.response_metadata["fusion"]
    assert sorted(fusion["models"]) == ["a", "b"]  # select asked for the top two; b stood in for broken
    assert len(broken.received) == 3  # its three attempts, once per request
    cascade = await FusionChatModel(
        pool=pool, router=FixedVoteRouter("cascade", {"broken": 0.99}), max_retries=0, decompose=False
    ).ainvoke("What is 2 plus 2?")
    assert "broken" not in cascade.response_metadata["fusion"]["models"] and len(broken.received) == 4


@pytest.mark.parametrize("strategy", ["vote", "select", "cascade", "escalate", "agree", "synthesize"])
def test_every_member_failing_raises_all_members_failed_naming_each(strategy: str) -> None:
    pool = ModelPool([_card(n, ScriptedChatModel(reply="x", fail_times=100)) for n in ("p", "q", "r")])
    llm = FusionChatModel(pool=pool, router=FixedVoteRouter(strategy), decompose=False)
    with pytest.raises(AllMembersFailedError) as caught:
        llm.invoke("What is 2 plus 2?")
    named = " ".join(caught.value.failures)
    assert all(name in named for name in ("p", "q", "r"))
    assert len(caught.value.failures) == 3  # each member once: none is called again after failing


def test_non_retryable_errors_move_on_at_once_and_retryable_ones_are_retried() -> None:
    class BadRequest(ScriptedChatModel):
        calls: int = 0

        def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
            self.calls += 1
            raise ValueError("bad request")

    bad = BadRequest()
    pool = ModelPool([_card("bad", bad), _card("good", ScriptedChatModel(reply="fine"))])
    message = FusionChatModel(pool=pool, router="cheapest", max_retries=3).invoke("hi")
    assert message.content == "fine" and bad.calls == 1
    flaky = ScriptedChatModel(reply="after a retry", fail_times=1)  # ConnectionError: retryable
    message = FusionChatModel(pool=ModelPool([_card("flaky", flaky)]), max_retries=1).invoke("hi")
    assert message.content == "after a retry"


async def test_sync_invoke_inside_a_running_event_loop_does_not_deadlock() -> None:
    llm = FusionChatModel(pool=ModelPool([_card("m", ScriptedChatModel(reply="ok"))]), decompose=False)
    assert llm.invoke("hi").content == "ok"  # runs the pipeline on a helper thread's loop
    assert "".join(str(c.content) for c in llm.stream("hi")) == "ok"


async def test_a_timed_out_async_member_is_cancelled_not_left_running() -> None:
    finished = []

    class Slow(ScriptedChatModel):
        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:  # type: ignore[override]
            await asyncio.sleep(2.0)
            finished.append(True)
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    pool = ModelPool([_card("slow", Slow()), _card("fast", ScriptedChatModel(reply="fast"))])
    message = await FusionChatModel(pool=pool, router="cheapest", timeout=0.2).ainvoke("hi")
    assert message.content == "fast"
    await asyncio.sleep(2.2)
    assert finished == []  # the slow call was cancelled at its timeout


async def test_three_rounds_of_three_concurrent_streams_over_the_real_embedded_models() -> None:
    # The default pool: llama.cpp in-process. Each model decodes on a worker of its own; no lock is held across
    # a yield, so concurrent streams neither fail ("cannot release un-acquired lock") nor hang.
    llm = FusionChatModel(decompose=False, max_tokens=12)

    async def one(i: int) -> Any:
        chunks = [chunk async for chunk in llm.astream(f"Name a colour. ({i})")]
        return chunks

    for _ in range(3):
        rounds = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(3))), timeout=120)
        for chunks in rounds:
            assert "".join(str(c.content) for c in chunks).strip()
            assert chunks[-1].response_metadata["fusion"]["streamed"] == "as the member wrote it"


def test_repeated_sync_calls_never_reach_a_members_async_client_bound_to_a_closed_loop() -> None:
    # Like ChatOpenAI, whose async HTTP client keeps connections on the loop that first used it: the sync facade's
    # loop lives for one request, so sync calls must use the member's sync API.
    class LoopBound(ScriptedChatModel):
        loops: list[Any] = []

        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:  # type: ignore[override]
            self.loops.append(asyncio.get_running_loop())
            if self.loops[0].is_closed():
                raise RuntimeError("Event loop is closed")
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    member = LoopBound(reply="ok")
    llm = FusionChatModel(pool=ModelPool([_card("m", member)]), decompose=False)
    assert [llm.invoke("hi").content for _ in range(3)] == ["ok"] * 3
    assert "".join(str(c.content) for c in llm.stream("hi")) == "ok"
    assert member.loops == []  # the sync path never entered the member's async API


def test_routing_waits_for_a_torch_another_thread_is_still_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request routed while torch is half imported (load.py saw AttributeError: torch.__config__) routes on."""
    import types

    from langchain_emafusion.pipeline import pipeline

    half_imported = types.ModuleType("torch")
    monkeypatch.setitem(sys.modules, "torch", half_imported)
    monkeypatch.setattr(pipeline, "_routing_local", threading.local())
    pipeline._pin_torch_threads()  # noqa: SLF001 - the routing thread's own step
    assert not getattr(pipeline._routing_local, "pinned", False)  # noqa: SLF001 - tried again next request
