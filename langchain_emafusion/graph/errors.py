"""Typed errors of the fusion graph (decomposition and whole-request budgets)."""

from __future__ import annotations

from langchain_emafusion.errors import EmaFusionError, NoEligibleModelError

__all__ = ["InvalidDecompositionError", "RequestBudgetExhaustedError"]


class InvalidDecompositionError(EmaFusionError, ValueError):
    """A decomposition plan is unusable (not JSON, wrong shape, duplicate or unknown ids, a dependency cycle).

    The graph catches it, answers the request as one subtask and reports the message in
    ``response_metadata["fusion"]["plan"]["error"]``.
    """


class RequestBudgetExhaustedError(NoEligibleModelError):
    """The whole request's ``max_cost_usd`` or ``max_latency_s`` is spent before a stage could run."""
