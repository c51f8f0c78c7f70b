"""The savings ledger's side of the pipeline: each routed request's :class:`RequestRecord` for the audit log.

With ``feedback_log`` set, every answered request also writes its decision record there (see
:mod:`~langchain_emafusion.feedback.log`), at the same moment.

With ``audit_log`` set, every routed request writes, besides its member-call lines, one request record: what it
cost, which members answered, the router's predicted quality of the answer, and the counterfactual, what each
pool member alone would have cost for it (card prices × the request's input tokens and the member's predicted
output tokens when the router predicts them, else the answer's own) with its predicted quality. The baseline
(``FusionChatModel(ledger_baseline=...)``, else the pool's best single member, see
:func:`resolve_ledger_reference`) is named in the record; ``emafusion ledger`` sums the records.

A request of the fusion graph reaches the pipeline as several calls (the decomposer, each subtask, the merge):
the graph tags each call with :data:`LEDGER_METADATA_KEY` in its run metadata, so each record says its stage,
its subtask id and the graph request it belongs to.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun

from langchain_emafusion.errors import InvalidInputError
from langchain_emafusion.feedback.log import DecisionRecord, FeedbackLog
from langchain_emafusion.pipeline.request import FusionRequest
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.privacy.audit import AuditLog, MemberEstimate, RequestRecord
from langchain_emafusion.routing.base import Router

__all__ = [
    "LEDGER_METADATA_KEY",
    "LedgerContext",
    "LedgerReference",
    "LedgerWriter",
    "decision_record",
    "ledger_context",
    "request_record",
    "resolve_ledger_reference",
]

LEDGER_METADATA_KEY = "emafusion_ledger"
"""Run-metadata key the fusion graph sets on each of its calls: ``{"parent_id", "stage", "subtask_id"}``."""

Stage = Literal["direct", "decompose", "subtask", "merge"]
_STAGES: tuple[Stage, ...] = ("direct", "decompose", "subtask", "merge")


@dataclass(frozen=True)
class LedgerReference:
    """The baseline of a model's ledger and the members every record prices (the model's whole pool)."""

    baseline: str
    source: str
    """How the baseline was chosen, in a few words (it goes in every record)."""
    pool: ModelPool


@dataclass(frozen=True)
class LedgerContext:
    """Where a pipeline request sits: a direct request, or one call of a fusion graph request."""

    stage: Stage = "direct"
    subtask_id: str | None = None
    parent_id: str | None = None


def resolve_ledger_reference(pool: ModelPool, router: Router, named: str | None) -> LedgerReference:
    """The ledger's baseline: ``named``, else the pool's best single member.

    That is the member with the best mean quality on the router's training table (among those it was trained
    on), else the priciest member (input + output price per million tokens; the first of equals in pool order).

    Raises:
        InvalidInputError: ``named`` is not a member of the pool (the message lists the members).
    """
    if named is not None:
        if named not in pool:
            raise InvalidInputError(
                f"ledger_baseline={named!r} is not a member of this pool; pass one of: {', '.join(pool.names)}"
            )
        return LedgerReference(named, "named by ledger_baseline", pool)
    means = {name: q for name, q in (router.training_quality(pool) or {}).items() if name in pool}
    if means:
        best = max((name for name in pool.names if name in means), key=lambda name: means[name])
        return LedgerReference(
            best,
            f"best mean quality on the router's training table ({means[best]:.3f}; "
            f"{len(means)} of {len(pool)} members known)",
            pool,
        )
    priciest = max(pool, key=lambda card: card.input_price + card.output_price)
    if priciest.input_price + priciest.output_price == 0:
        why = "first member (every member is free); the router has no training-table quality"
    else:
        why = "priciest member (input + output $/M tokens); the router has no training-table quality"
    return LedgerReference(priciest.name, why, pool)


def ledger_context(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> LedgerContext:
    """The fusion graph's tag of this call (see :data:`LEDGER_METADATA_KEY`); a direct request without one."""
    tag = (run_manager.metadata if run_manager is not None else {}).get(LEDGER_METADATA_KEY)
    if not isinstance(tag, dict) or tag.get("stage") not in _STAGES:
        return LedgerContext()
    subtask_id, parent_id = tag.get("subtask_id"), tag.get("parent_id")
    return LedgerContext(
        stage=tag["stage"],
        subtask_id=subtask_id if isinstance(subtask_id, str) else None,
        parent_id=parent_id if isinstance(parent_id, str) else None,
    )


def _numbers(details: dict[str, Any], key: str) -> dict[str, float]:
    found = details.get(key)
    if not isinstance(found, dict):
        return {}
    return {
        name: float(value)
        for name, value in found.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    }


def request_record(
    request: FusionRequest,
    reference: LedgerReference,
    context: LedgerContext,
    error: BaseException | None = None,
) -> RequestRecord:
    """The request record of a finished request (``error``: the exception it failed with)."""
    answers = [call for call in request.calls if "error" not in call]
    answered = list(dict.fromkeys(call["model"] for call in answers))
    tried_and_failed = dict.fromkeys(call["model"] for call in request.calls if "error" in call)
    chosen = request.fusion.get("chosen")
    if error is not None:
        answered_by = None
    elif isinstance(chosen, str):
        # Tier 2 returned this member's answer; a synthesized answer is no member's.
        answered_by = None if request.fusion.get("strategy") == "synthesize" else chosen
    else:
        answered_by = answers[-1]["model"] if answers else None
    answer_call = next(
        (c for c in reversed(answers) if c["model"] == answered_by), answers[-1] if answers else None
    )
    # The baseline would have read the request's own prompt: the first answer's input tokens (the member's count).
    prompt_tokens = int(answers[0]["input_tokens"]) if answers else request.routing.input_tokens
    answer_tokens = int(answer_call["output_tokens"]) if answer_call is not None else 0
    details = request.decision.details
    quality = {name: min(q, 1.0) for name, q in _numbers(details, "predicted_quality").items()}
    predicted_tokens = _numbers(details, "predicted_output_tokens")
    members: dict[str, MemberEstimate] = {}
    for card in reference.pool:
        predicted = predicted_tokens.get(card.name)
        tokens = int(round(predicted)) if predicted is not None else answer_tokens
        members[card.name] = MemberEstimate(
            cost_usd=card.cost_usd(prompt_tokens, tokens),
            quality=quality.get(card.name),
            output_tokens=tokens,
            tokens_predicted=predicted is not None,
        )
    baseline = members[reference.baseline]
    usage = request.usage()
    return RequestRecord(
        request_id=request.request_id,
        parent_id=context.parent_id,
        stage=context.stage,
        subtask_id=context.subtask_id,
        outcome="ok" if error is None else "error",
        error_type=type(error).__name__ if error is not None else None,
        router=request.decision.router,
        strategy=str(request.fusion.get("strategy", request.decision.strategy)),
        models=tuple(answered),
        failed=tuple(name for name in tried_and_failed if name in request.failed),
        calls=len(request.calls),
        cost_usd=sum(call["cost_usd"] for call in request.calls),
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        answered_by=answered_by,
        predicted_quality=quality.get(answered_by) if answered_by is not None else None,
        baseline=reference.baseline,
        baseline_source=reference.source,
        baseline_cost_usd=baseline.cost_usd,
        baseline_quality=baseline.quality,
        members=members,
    )


def decision_record(request: FusionRequest, context: LedgerContext) -> DecisionRecord:
    """The feedback log's record of an answered request: what the router saw and decided, and what it cost."""
    answers = [call for call in request.calls if "error" not in call]
    chosen = request.fusion.get("chosen")
    if isinstance(chosen, str):
        answered_by = None if request.fusion.get("strategy") == "synthesize" else chosen
    else:
        answered_by = answers[-1]["model"] if answers else None
    usage = request.usage()
    return DecisionRecord(
        run_id=request.request_id,
        parent_id=context.parent_id,
        stage=context.stage,
        prompt=request.privacy.loggable_text() or " ",
        router=request.decision.router,
        strategy=str(request.fusion.get("strategy", request.decision.strategy)),
        models=tuple(dict.fromkeys(call["model"] for call in answers)),
        answered_by=answered_by,
        predicted_quality={
            name: min(q, 1.0) for name, q in _numbers(request.decision.details, "predicted_quality").items()
        },
        quality_cost_tradeoff=request.routing.quality_cost_tradeoff,
        cost_usd=sum(call["cost_usd"] for call in request.calls),
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        latency_s=max(0.0, time.perf_counter() - request.started),
    )


class LedgerWriter:
    """Writes one request's records once, when the request ends; a no-op without an audit or feedback log.

    The audit log gets the ledger's request record (answered or failed), the feedback log the decision record
    of an answered request.
    """

    def __init__(
        self,
        audit: AuditLog | None,
        request: FusionRequest,
        reference: LedgerReference | None,
        context: LedgerContext,
        feedback: FeedbackLog | None = None,
    ) -> None:
        """Prepare the records of ``request`` (``reference`` None: no audit log; ``feedback`` None: no feedback log)."""
        self.audit = audit
        self.request = request
        self.reference = reference
        self.context = context
        self.feedback = feedback
        self.written = False

    async def write(self, error: BaseException | None = None) -> None:
        """Write the records (``error``: the exception the request failed with); later calls do nothing."""
        if self.written:
            return
        self.written = True
        # A record that cannot be written fails the request, as a member call's does.
        if self.audit is not None and self.reference is not None:
            await self.audit.aappend(request_record(self.request, self.reference, self.context, error))
        if self.feedback is not None and error is None:
            await self.feedback.aappend(decision_record(self.request, self.context))
