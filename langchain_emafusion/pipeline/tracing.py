"""How member calls show in LangSmith: redacted under the privacy policy, tokens counted once.

Member calls are child runs of the fusion run (``member:<name>``). Two things would go wrong if they were
traced as any chat model is:

- **Sensitive values.** Under ``redact`` and ``private_only`` a private member sees the raw request, and LangSmith
  is a third party. A member run's inputs and outputs are therefore traced with this request's placeholders
  (``[EMAIL_1]``...) in place of every detected value, whatever the member saw.
- **Tokens counted twice.** LangSmith adds up the token usage of every LLM run of a trace. The fusion run reports
  the sum of its members' usage (that is what its caller pays), so a member run's usage is traced as metadata
  (``emafusion_member_usage``) instead of as the run's usage: the trace's total is the fusion run's.

Only LangSmith's own tracer (:class:`~langchain_core.tracers.langchain.LangChainTracer`) is wrapped: the member runs
go to the same trace tree and client, with the same project and tags. Other tracers (in-memory ones in tests,
other vendors) see the member runs as they are.

The fusion run's own inputs are the caller's messages and its output the restored answer, both already in the
caller's hands; to redact them in LangSmith too, trace through :func:`redacting_client` (every run of the
trace then has detected values replaced), or hide them with LangSmith's own ``LANGSMITH_HIDE_INPUTS=true`` /
``LANGSMITH_HIDE_OUTPUTS=true``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.langchain import LangChainTracer
from langchain_core.tracers.schemas import Run

from langchain_emafusion.privacy.policy import PrivacyPolicy
from langchain_emafusion.privacy.redaction import map_json_strings

if TYPE_CHECKING:
    from langsmith import Client

__all__ = ["MEMBER_USAGE_KEY", "member_tracers", "redact_trace_payload", "redacting_client"]

MEMBER_USAGE_KEY = "emafusion_member_usage"
"""Metadata key of a member run's token usage in LangSmith (kept out of the run's usage; see the module notes)."""


class _MemberRunHooks(LangChainTracer):
    """Hooks mixed into a copy of the caller's LangSmith tracer: scrubbed text, usage as metadata."""

    scrub: Callable[[Any], Any] | None = None

    def copy_with_metadata_defaults(
        self, *, metadata: Mapping[str, str] | None = None, tags: list[str] | None = None
    ) -> LangChainTracer:
        # langchain-core copies the tracer for a run given metadata (every member call is): keep the scrubber.
        copied = super().copy_with_metadata_defaults(metadata=metadata, tags=tags)
        copied.scrub = self.scrub  # type: ignore[attr-defined]
        return copied

    def _on_chat_model_start(self, run: Run) -> None:
        # run.inputs is the tracer's own serialized copy of the messages, so it can be replaced freely.
        if self.scrub is not None:
            run.inputs = self.scrub(run.inputs)
        super()._on_chat_model_start(run)

    def _on_llm_start(self, run: Run) -> None:
        if self.scrub is not None:
            run.inputs = self.scrub(run.inputs)
        super()._on_llm_start(run)

    def _on_llm_end(self, run: Run) -> None:
        usage = _pop_usage(run.outputs or {})
        if usage:
            run.extra.setdefault("metadata", {})[MEMBER_USAGE_KEY] = usage
        if self.scrub is not None and run.outputs is not None:
            run.outputs = self.scrub(run.outputs)
        super()._on_llm_end(run)

    def _on_llm_error(self, run: Run) -> None:
        if self.scrub is not None and run.error:
            run.error = self.scrub(run.error)
        super()._on_llm_error(run)


@functools.cache
def _member_tracer_class(tracer_class: type[LangChainTracer]) -> type[LangChainTracer]:
    # A subclass of the caller's own tracer class, so that its overrides still apply to member runs; a tracer
    # that already is one (member runs of the fusion graph's inner requests) keeps its class.
    if issubclass(tracer_class, _MemberRunHooks):
        return tracer_class
    return type(f"Member{tracer_class.__name__}", (_MemberRunHooks, tracer_class), {})


def _member_tracer(tracer: LangChainTracer, scrub: Callable[[Any], Any] | None) -> LangChainTracer:
    # A shallow copy shares run_map/order_map with the caller's tracer (as langchain-core's own
    # copy_with_metadata_defaults does), so member runs hang under the fusion run in the same trace, with the same
    # client, project and tags; unlike that copy it needs no constructor of the caller's tracer class.
    member = copy.copy(tracer)
    member.__class__ = _member_tracer_class(type(tracer))
    member.scrub = scrub  # type: ignore[attr-defined]
    return member


def _pop_usage(outputs: dict[str, Any]) -> dict[str, Any]:
    """Take the token usage out of a chat run's serialized generations; returns it summed."""
    total: dict[str, Any] = {}
    for batch in outputs.get("generations") or []:
        for generation in batch:
            message = generation.get("message") if isinstance(generation, dict) else None
            if not isinstance(message, dict):
                continue
            for holder in (message, message.get("kwargs")):
                usage = holder.pop("usage_metadata", None) if isinstance(holder, dict) else None
                if isinstance(usage, dict):
                    for key in ("input_tokens", "output_tokens", "total_tokens"):
                        if isinstance(usage.get(key), int):
                            total[key] = total.get(key, 0) + usage[key]
    return total


def member_tracers(
    handlers: list[BaseCallbackHandler], scrub: Callable[[Any], Any] | None
) -> list[BaseCallbackHandler]:
    """The tracers among ``handlers`` that follow member calls, LangSmith's wrapped as the module notes say.

    Args:
        handlers: The fusion run's inheritable handlers.
        scrub: Replaces detected values in any JSON-like value (None: nothing to hide in this request).
    """
    tracers: list[BaseCallbackHandler] = []
    for handler in handlers:
        if isinstance(handler, LangChainTracer):
            tracers.append(_member_tracer(handler, scrub))
        elif isinstance(handler, BaseTracer):
            tracers.append(handler)
    return tracers


def redacting_client(policy: PrivacyPolicy | None = None, **client_kwargs: Any) -> Client:
    """A LangSmith client that replaces detected values in every traced run's inputs and outputs.

    Use it for the fusion run's own inputs (the caller's messages) and output (the restored answer)::

        import langsmith
        from langchain_emafusion.pipeline.tracing import redacting_client

        with langsmith.tracing_context(client=redacting_client(llm.privacy_policy)):
            llm.invoke("Email maria.g@example.org the invoice")  # traced as "Email [EMAIL_1] the invoice"

    Each run's payload is redacted on its own (its placeholders are numbered within it); the values are never
    sent.

    Args:
        policy: The detectors to use (default: :class:`PrivacyPolicy`'s defaults).
        **client_kwargs: Passed on to :class:`langsmith.Client` (``api_key``, ``api_url``...).
    """
    from langsmith import Client  # imported here: only tracing set-ups need it

    detector_policy = policy or PrivacyPolicy()

    def hide(payload: dict[str, Any]) -> dict[str, Any]:
        return redact_trace_payload(payload, detector_policy)

    return Client(hide_inputs=hide, hide_outputs=hide, **client_kwargs)


def redact_trace_payload(payload: dict[str, Any], policy: PrivacyPolicy) -> dict[str, Any]:
    """A copy of a run's inputs or outputs with every value ``policy``'s detectors find replaced.

    All strings of the payload are redacted as one batch, so a value repeated inside it keeps one placeholder.
    """
    texts: list[str] = []

    def collect(text: str) -> str:
        texts.append(text)
        return text

    map_json_strings(payload, collect)
    redacted = iter(policy.redactor().redact_many(texts))
    # The same walk in the same order: each string gets its redacted copy.
    result: dict[str, Any] = map_json_strings(payload, lambda _: next(redacted))
    return result
