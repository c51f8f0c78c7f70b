"""`MemberCaller`: the one place where a pool member is called.

Every member call of a request — the direct path, each call of a tier-2 strategy, the synthesis aggregator and,
through the fusion model, every call of the fusion graph — goes through :meth:`MemberCaller.invoke` or
:meth:`MemberCaller.stream`. Each call:

- sees only what the member may see (raw messages for private members, the redacted copy for public ones
  under ``redact``) and its answer is restored before anyone reads it;
- runs under the request's ``timeout`` as a cancellable task (a member with native async stops when cancelled;
  for streams the timeout bounds the wait for the first chunk);
- is retried ``max_retries`` times with jittered exponential backoff, but only on errors that may pass
  (timeouts, connection errors, HTTP 408/409/429/5xx): a bad request fails over to the next member at once;
- writes one audit line per attempt (off the event loop) and shows in traces as a child run ``member:<name>``
  of the fusion run.

Callers never call a member that already failed in the same request (``FusionRequest.failed``).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.pipeline.messages import whole
from langchain_emafusion.pipeline.privacy import RequestPrivacy
from langchain_emafusion.pipeline.request import FusionRequest
from langchain_emafusion.pipeline.tracing import member_tracers
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.privacy.audit import AuditLog, AuditRecord

__all__ = ["MemberCaller", "child_callbacks", "is_retryable"]

_T = TypeVar("_T")

BACKOFF_S = 0.25
"""First retry's mean wait (full jitter); each later retry waits up to twice as long."""
MAX_BACKOFF_S = 4.0
"""Longest wait between two attempts on one member."""
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_RETRYABLE_NAMES = (
    "Timeout",
    "Connection",
    "RateLimit",
    "ServiceUnavailable",
    "Overloaded",
    "InternalServer",
)


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt on the same member may succeed.

    Timeouts, connection errors, rate limits and server errors may pass; configuration errors, bad requests,
    authentication failures and anything else fail the same way again, so the next member is tried at once.
    """
    if isinstance(error, EmaFusionError):
        return False
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return status in _RETRYABLE_STATUS or status >= 500
    name = type(error).__name__
    return any(part in name for part in _RETRYABLE_NAMES)


def child_callbacks(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    privacy: RequestPrivacy | None = None,
) -> CallbackManager | AsyncCallbackManager:
    """Callbacks that make member calls child runs of the fusion run (LLM run managers have no get_child).

    With ``privacy``, LangSmith sees the member runs with the request's detected values replaced and their
    token usage as metadata (see :mod:`~langchain_emafusion.pipeline.tracing`).
    """
    if run_manager is None:
        # langchain-core streams a plain `invoke(streaming=True)` through `_stream` without a run manager. A
        # member call given no callbacks would then attach to the caller's ambient callbacks (a LangGraph node's
        # message streamer among them) and show up as a second model; an empty manager keeps it out.
        return CallbackManager(handlers=[])
    manager_cls = (
        AsyncCallbackManager if isinstance(run_manager, AsyncCallbackManagerForLLMRun) else CallbackManager
    )
    manager = manager_cls(handlers=[], parent_run_id=run_manager.run_id)
    # Only tracers (LangSmith, in-memory tracers) follow the member calls as child runs. Other handlers see one
    # chat-model run per request, as from any chat model: passing them on would report every member call as a
    # second model start and stream its tokens next to the fusion model's own.
    scrub = privacy.trace_scrubber() if privacy is not None else None
    manager.set_handlers(member_tracers(run_manager.inheritable_handlers, scrub))
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def detached_task(coroutine: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
    """Run a member coroutine as a task with LangChain's ambient child config cleared.

    Inside a runnable sequence (``with_structured_output``, an agent's node) langchain-core keeps the caller's
    config, callbacks included, in a context variable that member calls would merge into their own: the
    caller's handlers would then see every member call as a second chat-model run. Members get exactly the
    config the fusion model gives them (tracers only, as child runs).
    """
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    return asyncio.get_running_loop().create_task(coroutine, context=context)


class MemberCaller:
    """Calls pool members for one request under the fusion model's timeout, retries, privacy and audit log."""

    def __init__(
        self,
        request: FusionRequest,
        callbacks: CallbackManager | AsyncCallbackManager,
        *,
        timeout: float | None,
        max_retries: int,
        audit_log: str | Path | None,
        sync_members: bool = False,
    ) -> None:
        """Prepare the calls of one request (nothing is called yet).

        ``sync_members``: call each member's sync API in a worker thread (the sync facade: its event loop lives
        for one request, and a member's async client, e.g. ``ChatOpenAI``'s, must not be bound to it).
        """
        self.request = request
        self.sync_members = sync_members
        self.callbacks = callbacks
        self.timeout = timeout
        self.max_retries = max_retries
        self.audit = AuditLog(audit_log) if audit_log is not None else None
        self.gathered: dict[str, AIMessageChunk] = {}
        """Each streamed member's whole answer, by member name."""

    # --- one member -----------------------------------------------------------------------------------------
    def _member(self, card: ModelCard) -> Runnable[LanguageModelInput, BaseMessage]:
        model = card.get_model()
        request = self.request
        if request.tools:
            extra = {"strict": request.strict} if request.strict is not None else {}
            return model.bind_tools(request.tools, tool_choice=request.tool_choice, **extra)
        return model

    def _config(self, card: ModelCard) -> RunnableConfig:
        decision = self.request.decision
        return RunnableConfig(
            callbacks=self.callbacks,
            # A run id of its own: inside a LangGraph node the caller's config can carry the fusion run's id,
            # and a member run under the same id would stream its tokens as the fusion model's.
            run_id=uuid.uuid4(),
            run_name=f"member:{card.name}",
            # "nostream": LangGraph's `stream_mode="messages"` streams the fusion model's answer, not each member's.
            tags=["emafusion-member", "nostream"],
            metadata={
                "emafusion_router": decision.router,
                "emafusion_strategy": decision.strategy,
                "emafusion_reason": decision.reason,
                "emafusion_score": decision.scores.get(card.name),
                "emafusion_private": card.private,
                "emafusion_redacted": self.request.privacy.access(card) == "redacted",
            },
        )

    async def _call(
        self, member: Runnable[LanguageModelInput, BaseMessage], messages: list[BaseMessage], card: ModelCard
    ) -> BaseMessage:
        config, kwargs = self._config(card), self.request.member_kwargs
        if self.sync_members:
            return await asyncio.to_thread(member.invoke, messages, config, **kwargs)
        return await member.ainvoke(messages, config, **kwargs)

    def _open_stream(
        self, member: Runnable[LanguageModelInput, BaseMessage], card: ModelCard
    ) -> AsyncIterator[BaseMessage]:
        messages = self.request.privacy.messages_for(card)
        config, kwargs = self._config(card), self.request.member_kwargs
        if self.sync_members:
            return _threaded_stream(lambda: member.stream(messages, config, **kwargs))
        return member.astream(messages, config, **kwargs)

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_random_exponential(multiplier=BACKOFF_S, max=MAX_BACKOFF_S),
            retry=retry_if_exception(is_retryable),
            reraise=True,
        )

    async def _write_audit(self, fields: dict[str, Any]) -> None:
        # A record that cannot be written fails the request: a silently incomplete audit log is worse.
        if self.audit is not None:
            await self.audit.aappend(AuditRecord(**fields))

    async def invoke(self, card: ModelCard, messages: list[BaseMessage] | None = None) -> BaseMessage:
        """Call ``card``'s member (with ``messages`` instead of the request's, e.g. for synthesis).

        Returns the member's answer with any redacted value restored.

        Raises:
            Exception: The member's last error once its attempts are spent (it is then in ``request.failed``).
        """
        request = self.request
        member = self._member(card)
        member_messages = messages if messages is not None else request.privacy.messages_for(card)
        attempt_number = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    started = time.perf_counter()
                    try:
                        async with asyncio.timeout(self.timeout):
                            message = await detached_task(self._call(member, member_messages, card))
                    except Exception as exc:
                        if isinstance(exc, TimeoutError) and not str(exc):
                            exc = TimeoutError(f"member call exceeded timeout={self.timeout}s")
                        await self._write_audit(
                            request.fail(card, attempt_number, exc, time.perf_counter() - started)
                        )
                        attempt_number += 1
                        raise exc from None  # noqa: TRY200 - the timeout, named
        except Exception:
            request.failed.add(card.name)
            raise
        await self._write_audit(request.record(card, message, time.perf_counter() - started))
        return request.privacy.restore(card, message)

    async def stream(self, card: ModelCard) -> AsyncIterator[ChatGenerationChunk]:
        """Stream ``card``'s member, restoring redacted values as the chunks arrive.

        The timeout bounds the wait for the first chunk; attempts are retried only before a chunk is out (a
        second attempt after that would splice two answers). The whole answer, gathered, is then in
        ``self.gathered[card.name]``.

        Raises:
            Exception: The member's last error (it is then in ``request.failed``).
        """
        request = self.request
        member = self._member(card)
        emitted = False
        attempt_number = 0
        retrying = self._retrying()
        retrying.retry = retry_if_exception(lambda exc: not emitted and is_retryable(exc))
        try:
            async for attempt in retrying:
                with attempt:
                    relay = request.privacy.relay(card)
                    started = time.perf_counter()
                    pieces = _DetachedStream(self._open_stream(member, card))
                    try:
                        try:
                            async with asyncio.timeout(self.timeout):
                                first = await pieces.next()
                        except TimeoutError:
                            raise TimeoutError(
                                f"member stream sent no chunk within timeout={self.timeout}s"
                            ) from None
                        async for chunk in relay.achunks(pieces.rest(first)):
                            emitted = True
                            yield chunk
                    except Exception as exc:
                        await pieces.aclose()
                        await self._write_audit(
                            request.fail(card, attempt_number, exc, time.perf_counter() - started)
                        )
                        attempt_number += 1
                        raise
        except Exception:
            request.failed.add(card.name)
            raise
        await self._write_audit(request.record(card, whole(relay.gathered), time.perf_counter() - started))
        self.gathered[card.name] = whole(relay.gathered)


async def _threaded_stream(open_stream: Callable[[], Iterator[_T]]) -> AsyncIterator[_T]:
    """A sync stream stepped in worker threads, one ``next`` at a time; closing it closes the stream.

    A step still running when the stream is closed (a timeout) cannot be interrupted: that thread is left to
    finish in the background, and the stream is not closed under it.
    """
    iterator = await asyncio.to_thread(open_stream)
    in_step = False
    try:
        while True:
            in_step = True
            item = await asyncio.to_thread(next, iterator, _STREAM_END)
            in_step = False
            if item is _STREAM_END:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(iterator, "close", None)
        if close is not None and not in_step:
            await asyncio.to_thread(close)


_STREAM_END = object()


class _DetachedStream:
    """A member's async stream, each step run with the ambient child config cleared (see ``detached_task``)."""

    _END = object()

    def __init__(self, stream: AsyncIterator[BaseMessage]) -> None:
        self._stream = stream

    async def next(self) -> BaseMessage | object:
        try:
            return await detached_task(self._step())
        except StopAsyncIteration:
            return self._END

    async def _step(self) -> BaseMessage:
        return await self._stream.__anext__()

    async def rest(self, first: BaseMessage | object) -> AsyncIterator[BaseMessage]:
        item = first
        while item is not self._END:
            yield item  # type: ignore[misc]
            item = await self.next()

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # noqa: S110 - closing a failed stream; its own error is already being raised
                pass
