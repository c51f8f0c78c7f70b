"""`FusionPipeline`: one request's steps — prepare → route → run the strategy → respond — async-native.

``FusionChatModel``'s four entry points hand every direct-path request here (``invoke`` and ``stream`` through
the sync facade in :mod:`~langchain_emafusion.pipeline.sync`). Member calls go through
:class:`~langchain_emafusion.pipeline.member.MemberCaller`; tier-2 strategies through
:class:`~langchain_emafusion.pipeline.tier2.Tier2Run`. Routing (a learned predictor's forward pass, its
first-use loading) runs on one routing thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from langchain_emafusion.errors import InvalidInputError, NoEligibleModelError
from langchain_emafusion.feedback.log import FeedbackLog
from langchain_emafusion.pipeline.ledger import LedgerReference, LedgerWriter, ledger_context
from langchain_emafusion.pipeline.member import MemberCaller, child_callbacks
from langchain_emafusion.pipeline.messages import answer_chunks, check_messages, estimate_tokens, message_text
from langchain_emafusion.pipeline.privacy import RequestPrivacy
from langchain_emafusion.pipeline.request import FusionRequest
from langchain_emafusion.pipeline.tier2 import Tier2Run
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.privacy.policy import PrivacyPolicy
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, eligible_cards
from langchain_emafusion.routing.targets import CalibrationResult

__all__ = ["FusionPipeline", "PipelineSettings", "ROUTING_OPTIONS", "STRUCTURED_MARKER"]

STRUCTURED_MARKER = "emafusion_structured_output"
"""Call option bound by ``with_structured_output``, so routing knows the request needs structured output even
though langchain-core strips its own ``ls_structured_output_format`` before ``_generate`` runs."""
ROUTING_OPTIONS = ("quality_cost_tradeoff", "max_cost_usd", "max_latency_s")
"""Routing knobs settable on the model and overridable per call (``llm.invoke(..., max_cost_usd=0.01)``)."""

_RunManager = CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None


ROUTING_TORCH_THREADS = 1
"""torch intra-op threads of the routing thread. A learned router's forward pass is small: with torch's default
(every core) each call pays to wake a thread team and contends with the members' decoding, which triples its
p50 on 2 cores. Set on the routing thread only, and only where torch runs on OpenMP (thread-local there), so
the caller's own torch work keeps its settings."""
ROUTING_BLAS_THREADS = 1
"""numpy's BLAS (OpenBLAS) threads while a request is prepared and routed. Once torch's OpenMP team exists, a
multi-threaded OpenBLAS call spins against it: the outcome memory's one-row similarity product (5,600 × 384) takes
8 ms instead of 0.15 ms. OpenBLAS's thread count is process-wide, so it is lowered only for the few milliseconds of
each routing step and restored after (through threadpoolctl); numpy work on other threads during those
milliseconds runs single-threaded too."""
_blas_controller: Any = None
_THREADS: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_THREADS_LOCK = threading.Lock()
_routing_local = threading.local()


def _single_thread(name: str) -> concurrent.futures.ThreadPoolExecutor:
    """The process's one ``emafusion-<name>`` worker thread, started on first use."""
    with _THREADS_LOCK:
        if name not in _THREADS:
            _THREADS[name] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"emafusion-{name}")
        return _THREADS[name]


def _routing_thread() -> concurrent.futures.ThreadPoolExecutor:
    # One thread: routing is short CPU work; several at once would only contend for the same cores.
    return _single_thread("routing")


def _privacy_thread() -> concurrent.futures.ThreadPoolExecutor:
    # One thread beside the routing thread (a machine has at least two cores to route and scan on).
    return _single_thread("privacy")


def _pin_torch_threads() -> None:
    """Give the routing thread ``ROUTING_TORCH_THREADS`` torch threads, once torch is in use (never imports it)."""
    if getattr(_routing_local, "pinned", False) or "torch" not in sys.modules:
        return
    torch = sys.modules["torch"]
    config = getattr(torch, "__config__", None)
    if config is None:
        return  # another thread is still importing torch: pin on a later request
    if "OpenMP" in config.parallel_info():
        torch.set_num_threads(ROUTING_TORCH_THREADS)
    _routing_local.pinned = True


def _routing_blas_limit() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to ``ROUTING_BLAS_THREADS`` for one routing step (no-op without threadpoolctl)."""
    global _blas_controller
    if _blas_controller is None:
        try:
            import numpy  # noqa: F401 - loads the BLAS library the controller must see
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()  # inspects the loaded libraries once (~ms)
    if _blas_controller is False:
        return contextlib.nullcontext()
    return _blas_controller.limit(limits=ROUTING_BLAS_THREADS, user_api="blas")


class PipelineSettings(Protocol):
    """What the pipeline reads from the fusion model: its options and its resolved pool and router."""

    model_name: str
    temperature: float | None
    max_tokens: int | None
    stop: list[str] | None
    timeout: float | None
    max_retries: int
    audit_log: str | Path | None
    feedback_log: str | Path | None
    quality_cost_tradeoff: float | None
    max_cost_usd: float | None
    max_latency_s: float | None

    @property
    def target(self) -> CalibrationResult | None: ...  # noqa: D102

    @property
    def resolved_pool(self) -> ModelPool: ...  # noqa: D102

    @property
    def ledger_reference(self) -> LedgerReference: ...  # noqa: D102

    @property
    def resolved_router(self) -> Router: ...  # noqa: D102

    @property
    def privacy_policy(self) -> PrivacyPolicy: ...  # noqa: D102


class FusionPipeline:
    """The request pipeline over one fusion model's settings."""

    def __init__(self, settings: PipelineSettings) -> None:
        """Serve requests with ``settings`` (read at each request, so later changes apply)."""
        self.settings = settings

    # --- prepare ------------------------------------------------------------------------------------------
    def prepare(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[RoutingRequest, dict[str, Any], dict[str, Any]]:
        """Check the messages and split the call options: what routing sees, member options, direct options.

        The routing request assumes no privacy restriction; :meth:`aroute` adds it once the privacy scan, which
        runs beside routing, has found sensitive values under ``private_only``.

        Raises:
            InvalidInputError: No text to answer, or a bad routing option.
        """
        settings = self.settings
        check_messages(messages)
        direct = {key: kwargs.pop(key, None) for key in ("tools", "tool_choice", "strict", "model")}
        structured = bool(kwargs.pop(STRUCTURED_MARKER, False)) or "response_format" in kwargs
        routing_options = self._routing_options(kwargs)
        member_kwargs = dict(kwargs)
        for field in ("temperature", "max_tokens"):
            value = getattr(settings, field)
            if value is not None:
                member_kwargs.setdefault(field, value)
        if stop or settings.stop:
            member_kwargs["stop"] = stop or settings.stop
        routing = RoutingRequest(
            prompt="\n".join(message_text(m) for m in messages),
            input_tokens=sum(estimate_tokens(message_text(m)) + 4 for m in messages),
            max_output_tokens=member_kwargs.get("max_tokens") or 256,
            needs_tools=bool(direct["tools"]) and direct["tool_choice"] != "none",
            needs_structured_output=structured,
            **routing_options,
        )
        return routing, member_kwargs, direct

    def _routing_options(self, kwargs: dict[str, Any]) -> dict[str, float | None]:
        options: dict[str, float | None] = {}
        target = self.settings.target
        for name in ROUTING_OPTIONS:
            value = kwargs.pop(name, getattr(self.settings, name))
            if name == "quality_cost_tradeoff" and value is None and target is not None:
                value = target.knob
            # `not value >= 0` also rejects NaN.
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
            ):
                raise InvalidInputError(f"{name} must be a number >= 0 (or None for no cap), got {value!r}")
            options[name] = value
        return options

    # --- route --------------------------------------------------------------------------------------------
    def decide(self, routing: RoutingRequest, privacy: RequestPrivacy | None, pinned: Any) -> RoutingDecision:
        """Route the request, then keep only members that may serve it (sync; see :meth:`aroute`).

        The router is asked with the caps and the privacy requirement already in the request; the members it
        returns are checked against them once more, so that a router that ignores them can neither reach a
        public member with sensitive data nor a capped-out member, as first choice or as a fallback.

        Raises:
            NoEligibleModelError: No member may serve the request, naming why.
            InvalidInputError: ``model=`` names no member of the pool.
        """
        pool = self.settings.resolved_pool
        try:
            decision = (
                self._pinned(pinned, routing)
                if pinned is not None
                else self.settings.resolved_router.route(routing, pool)
            )
            eligible = {card.name for card in eligible_cards(routing, pool)}
        except NoEligibleModelError as exc:
            if routing.private_only and privacy is not None:
                raise NoEligibleModelError(
                    f"the request contains sensitive data ({', '.join(privacy.kinds)}) and privacy mode is "
                    f"'private_only', so only private members may see it, and none can serve it: {exc}. "
                    "Add a private=True member that can, or use privacy mode 'redact'."
                ) from exc
            raise
        allowed = [name for name in decision.models if name in eligible]
        if not allowed:
            raise NoEligibleModelError(
                f"router {decision.router!r} chose only members that cannot serve this request "
                f"({', '.join(decision.models)}); eligible members: {', '.join(sorted(eligible))}"
            )
        if len(allowed) < len(decision.models):
            dropped = [name for name in decision.models if name not in eligible]
            decision = decision.model_copy(
                update={
                    "models": allowed,
                    "reason": f"{decision.reason} (dropped as ineligible: {', '.join(dropped)})",
                }
            )
        return decision

    def _prepare_and_decide(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[RoutingDecision, RoutingRequest, dict[str, Any], dict[str, Any]]:
        # On the routing thread: the router's forward pass is CPU work that would stall the event loop.
        _pin_torch_threads()
        with _routing_blas_limit():
            routing, member_kwargs, direct = self.prepare(messages, stop, kwargs)
            decision = self.decide(routing, None, direct["model"])
            if self.settings.audit_log is not None:
                # The savings ledger's baseline, chosen on first use (it may read the router's predictor).
                _ = self.settings.ledger_reference
        return decision, routing, member_kwargs, direct

    def _decide_private(
        self, routing: RoutingRequest, privacy: RequestPrivacy, pinned: Any
    ) -> tuple[RoutingDecision, RoutingRequest]:
        _pin_torch_threads()
        private = routing.model_copy(update={"private_only": True})
        with _routing_blas_limit():
            return self.decide(private, privacy, pinned), private

    def _pinned(self, name: Any, routing: RoutingRequest) -> RoutingDecision:
        """A per-call ``model=<member>`` pins the request to that member (if it can serve it)."""
        pool = self.settings.resolved_pool
        if not isinstance(name, str) or name not in pool:
            raise InvalidInputError(
                f"model={name!r} is not a member of this pool; pass one of: {', '.join(pool.names)}"
            )
        try:
            eligible_cards(routing, ModelPool([pool[name]]))
        except NoEligibleModelError as exc:
            raise NoEligibleModelError(
                f"pool member {name!r} was requested with model=... but cannot serve this request: {exc}"
            ) from exc
        return RoutingDecision(
            models=[name], router="pinned", reason=f"member {name!r} requested by the caller"
        )

    async def aroute(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        run_manager: _RunManager,
    ) -> FusionRequest:
        """Prepare and route one request, off the event loop.

        The privacy scan (rules, and an NER model when installed) runs on its own thread beside routing: it only
        matters to routing when it finds something under ``private_only``, and then the request is routed again
        among private members (the prompt's encoding is cached by then).
        """
        loop = asyncio.get_running_loop()
        scan = loop.run_in_executor(_privacy_thread(), RequestPrivacy, self.settings.privacy_policy, messages)
        try:
            decision, routing, member_kwargs, direct = await loop.run_in_executor(
                _routing_thread(), self._prepare_and_decide, messages, stop, dict(kwargs)
            )
        except BaseException:
            with contextlib.suppress(BaseException):
                await scan  # its own error, if any, is not the request's: the routing error is
            raise
        privacy = await scan
        if privacy.private_only:
            decision, routing = await loop.run_in_executor(
                _routing_thread(), self._decide_private, routing, privacy, direct["model"]
            )
        request_id = str(run_manager.run_id) if run_manager is not None else str(uuid.uuid4())
        request = FusionRequest(
            decision,
            routing,
            privacy,
            request_id,
            member_kwargs,
            direct["tools"],
            direct["tool_choice"],
            direct["strict"],
        )
        target = self.settings.target
        if target is not None and kwargs.get("quality_cost_tradeoff") is None:
            request.fusion["target"] = target.metadata()
        return request

    def _caller(self, request: FusionRequest, run_manager: _RunManager, sync_members: bool) -> MemberCaller:
        settings = self.settings
        return MemberCaller(
            request,
            child_callbacks(run_manager, request.privacy),
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            audit_log=settings.audit_log,
            sync_members=sync_members,
        )

    def _ledger(self, request: FusionRequest, caller: MemberCaller, run_manager: _RunManager) -> LedgerWriter:
        """The request's ledger record (written when it ends; see :mod:`~langchain_emafusion.pipeline.ledger`)."""
        context = ledger_context(run_manager)
        request.subtask_id = context.subtask_id
        reference = self.settings.ledger_reference if caller.audit is not None else None
        log = self.settings.feedback_log
        return LedgerWriter(
            caller.audit, request, reference, context, FeedbackLog(log) if log is not None else None
        )

    def _tier2(self, request: FusionRequest, caller: MemberCaller) -> Tier2Run | None:
        """Tier 2's run when the router chose a multi-member strategy, else None (one member, fallbacks)."""
        if request.decision.strategy == "single" or request.tools:
            return None
        tier2 = getattr(self.settings.resolved_router, "tier2", None)
        if tier2 is None:
            return None
        return Tier2Run(caller, self.settings.resolved_pool, tier2)

    # --- run and respond -------------------------------------------------------------------------------------
    async def agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: _RunManager,
        kwargs: dict[str, Any],
        *,
        sync_members: bool = False,
    ) -> ChatResult:
        """Answer one request: the first ranked member that answers, or tier 2's strategy.

        ``sync_members``: members are called through their sync API in worker threads (the sync facade).
        """
        request = await self.aroute(messages, stop, kwargs, run_manager)
        caller = self._caller(request, run_manager, sync_members)
        ledger = self._ledger(request, caller, run_manager)
        try:
            result = await self._answer(request, caller)
        except Exception as exc:
            await ledger.write(exc)
            raise
        await ledger.write()
        return result

    async def _answer(self, request: FusionRequest, caller: MemberCaller) -> ChatResult:
        fused = self._tier2(request, caller)
        if fused is not None:
            request.fusion["streamed"] = False
            return self._result(request, await fused.run())
        pool = self.settings.resolved_pool
        for name in request.decision.models:
            try:
                message = await caller.invoke(pool[name])
            except Exception:  # noqa: BLE001,S112 - recorded in the request's failures; the next member is tried
                continue
            return self._result(request, message)
        raise request.all_failed()

    async def astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: _RunManager,
        kwargs: dict[str, Any],
        *,
        sync_members: bool = False,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Stream one request: the member's tokens as it writes them; tier 2's chosen answer once chosen."""
        request = await self.aroute(messages, stop, kwargs, run_manager)
        caller = self._caller(request, run_manager, sync_members)
        ledger = self._ledger(request, caller, run_manager)
        try:
            async with contextlib.aclosing(self._stream_answer(request, caller, ledger)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except Exception as exc:
            await ledger.write(exc)
            raise

    async def _stream_answer(
        self, request: FusionRequest, caller: MemberCaller, ledger: LedgerWriter
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        # The ledger record is written before the last chunk, so a caller that stops there still gets it.
        fused = self._tier2(request, caller)
        if fused is not None:
            # The final answer is known only once the strategy has chosen it; then it is streamed.
            message = await fused.run()
            request.fusion["streamed"] = "after the strategy chose the answer"
            for chunk in answer_chunks(message):
                yield chunk
            final = self._final_chunk(request, message.response_metadata.get("finish_reason"))
            await ledger.write()
            yield final
            return
        pool = self.settings.resolved_pool
        for name in request.decision.models:
            emitted = False
            try:
                async for chunk in caller.stream(pool[name]):
                    emitted = True
                    yield chunk
            except Exception:
                if emitted:
                    raise  # part of an answer is out; switching members now would splice two answers
                continue
            gathered = caller.gathered[name]
            request.fusion["streamed"] = "as the member wrote it"
            final = self._final_chunk(request, gathered.response_metadata.get("finish_reason"))
            await ledger.write()
            yield final
            return
        raise request.all_failed()

    def _result(self, request: FusionRequest, message: BaseMessage) -> ChatResult:
        name = self.settings.model_name
        out = AIMessage(
            content=message.content,
            tool_calls=getattr(message, "tool_calls", []),
            invalid_tool_calls=getattr(message, "invalid_tool_calls", []),
            usage_metadata=request.usage(),
            response_metadata=request.metadata(name, message.response_metadata.get("finish_reason")),
        )
        return ChatResult(generations=[ChatGeneration(message=out)], llm_output={"model_name": name})

    def _final_chunk(self, request: FusionRequest, finish_reason: Any) -> ChatGenerationChunk:
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=request.usage(),
                response_metadata=request.metadata(self.settings.model_name, finish_reason),
                chunk_position="last",
            )
        )
