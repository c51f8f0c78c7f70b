"""`FusionRequest`: one request as the pipeline carries it, from preparation to the answer's metadata."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.ai import UsageMetadata

from langchain_emafusion.errors import AllMembersFailedError
from langchain_emafusion.pipeline.messages import estimate_tokens, message_text
from langchain_emafusion.pipeline.privacy import RequestPrivacy
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.routing.base import RoutingDecision, RoutingRequest

__all__ = ["FusionRequest"]


class FusionRequest:
    """Everything one request needs, prepared once: the routing decision, the privacy view, the member options.

    It also keeps the request's account: every member call (answers and failures), which members failed (they
    are never called again in this request) and tier 2's account of how the answer was chosen.
    """

    def __init__(
        self,
        decision: RoutingDecision,
        routing: RoutingRequest,
        privacy: RequestPrivacy,
        request_id: str,
        member_kwargs: dict[str, Any],
        tools: list[dict[str, Any]] | None,
        tool_choice: Any,
        strict: bool | None,
    ) -> None:
        """Hold a prepared request (nothing is called yet)."""
        self.decision = decision
        self.routing = routing
        self.privacy = privacy
        self.request_id = request_id
        self.subtask_id: str | None = None
        """The fusion graph's subtask this request answers (in its audit records), if any."""
        self.member_kwargs = member_kwargs
        self.tools = tools
        self.tool_choice = tool_choice
        self.strict = strict
        self.calls: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.failed: set[str] = set()
        """Members that failed every attempt in this request."""
        self.fusion: dict[str, Any] = {}
        """Tier 2's account of the request (strategy run, judges' confidences, how the answer was chosen)."""
        self.started = time.perf_counter()

    @property
    def prompt(self) -> str:
        """The request's text (all messages joined)."""
        return self.routing.prompt

    def record(self, card: ModelCard, message: BaseMessage, latency_s: float) -> dict[str, Any]:
        """Note a member's answer; return the audit record's fields for it."""
        usage = getattr(message, "usage_metadata", None)
        estimated = usage is None
        if usage is None:
            input_tokens = self.routing.input_tokens
            output_tokens = estimate_tokens(message_text(message))
        else:
            input_tokens, output_tokens = usage["input_tokens"], usage["output_tokens"]
        entry = {
            "model": card.name,
            "cost_usd": card.cost_usd(input_tokens, output_tokens),
            "latency_s": latency_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tokens_estimated": estimated,
        }
        confidence = message.response_metadata.get("confidence")
        if isinstance(confidence, int | float):
            entry["confidence"] = float(confidence)
        self.calls.append(entry)
        return self._audit_fields(card, cost_usd=entry["cost_usd"], outcome="ok")

    def fail(self, card: ModelCard, attempt: int, exc: BaseException, latency_s: float) -> dict[str, Any]:
        """Note a member's failed attempt; return the audit record's fields for it."""
        self.failures.append(f"{card.name} (attempt {attempt + 1}): {type(exc).__name__}: {exc}")
        self.calls.append(
            {
                "model": card.name,
                "cost_usd": 0.0,
                "latency_s": latency_s,
                "input_tokens": 0,
                "output_tokens": 0,
                "error": f"{type(exc).__name__}: {exc}",
            }
        )
        # Only the class name: an error message may quote the prompt.
        return self._audit_fields(card, cost_usd=None, outcome="error", error_type=type(exc).__name__)

    def _audit_fields(self, card: ModelCard, **outcome: Any) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "subtask_id": self.subtask_id,
            "model": card.name,
            **self.privacy.audit_fields(card),
            **outcome,
        }

    def usage(self) -> UsageMetadata:
        """Token usage summed over every member call of the request."""
        inputs = sum(c["input_tokens"] for c in self.calls)
        outputs = sum(c["output_tokens"] for c in self.calls)
        return UsageMetadata(input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs)

    def metadata(self, model_name: str, finish_reason: Any) -> dict[str, Any]:
        """The answer's ``response_metadata``: the model's name and ``fusion``, the account of the request."""
        answered = [c["model"] for c in self.calls if "error" not in c]
        fusion = {
            "request_id": self.request_id,
            "models": answered,
            "strategy": self.decision.strategy,
            "router": self.decision.router,
            "reason": self.decision.reason,
            "candidates": self.decision.models,
            "scores": self.decision.scores,
            "router_details": self.decision.details,
            "cost_usd": sum(c["cost_usd"] for c in self.calls),
            "latency_s": time.perf_counter() - self.started,
            "calls": self.calls,
            "privacy": self.privacy.metadata(),
        }
        fusion.update(self.fusion)
        if self.failures:
            fusion["failures"] = self.failures
        metadata: dict[str, Any] = {"model_name": model_name, "model_provider": "emafusion", "fusion": fusion}
        if finish_reason is not None:
            metadata["finish_reason"] = finish_reason
        return metadata

    def all_failed(self) -> AllMembersFailedError:
        """The error for a request no member could answer, naming each failure."""
        return AllMembersFailedError(
            "every routed pool member failed: " + "; ".join(self.failures), failures=list(self.failures)
        )
