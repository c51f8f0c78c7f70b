"""The replay harness: runs a policy on a test table under the replay protocol and bills every call.

For each prompt and knob setting the harness shows the policy a :class:`~.protocol.PromptView` (prompt text,
cards, revealed rows only). When the policy calls a model not yet revealed, the harness bills that row's
``cost_usd`` (and latency), reveals it and runs ``decide`` again; the rows themselves never leave this module.
A prompt's latency is the sum over call steps of the step's slowest call (``call_many`` is one parallel step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from langchain_emafusion.evaluation.errors import ProtocolViolationError
from langchain_emafusion.evaluation.protocol import (
    CallRequest,
    Decision,
    PromptView,
    ReplayPolicy,
    RevealedRow,
)
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.pool.card import ModelCard

__all__ = ["SettingRun", "PolicyRun", "replay", "fused_answer_is_correct"]


@dataclass(frozen=True)
class SettingRun:
    """A policy's outcome on a whole test table at one knob setting.

    Attributes:
        setting: The knob value.
        correct: Per-prompt correctness in [0, 1].
        cost_usd: Per-prompt billed cost.
        calls: Per-prompt number of models called.
        latency_s: Per-prompt latency (NaN everywhere when the table has no latencies).
    """

    setting: float
    correct: np.ndarray
    cost_usd: np.ndarray
    calls: np.ndarray
    latency_s: np.ndarray

    @property
    def accuracy(self) -> float:
        """Mean correctness over prompts."""
        return float(self.correct.mean())

    @property
    def mean_cost_usd(self) -> float:
        """Mean billed cost per prompt."""
        return float(self.cost_usd.mean())

    @property
    def calls_per_prompt(self) -> float:
        """Mean number of models called per prompt."""
        return float(self.calls.mean())

    def latency_percentile(self, percentile: float) -> float | None:
        """Return a percentile of per-prompt latency, or None when the table has no latencies."""
        if not np.isfinite(self.latency_s).any():
            return None
        return float(np.nanpercentile(self.latency_s, percentile))


@dataclass
class PolicyRun:
    """A policy's outcomes at every knob setting."""

    name: str
    settings: list[SettingRun] = field(default_factory=list)


def fused_answer_is_correct(table: OutcomeTable, prompt_index: int, answer: str) -> bool:
    """Judge a fused answer key: it equals the reference, or (no reference) the answer of a row with score 1.

    Args:
        table: The test table.
        prompt_index: The prompt's position in the table.
        answer: The fused answer key.

    Returns:
        Whether the answer counts as correct.
    """
    key = answer.strip()
    reference = table.references[prompt_index]
    if reference is not None:
        return key == reference.strip()
    return any(
        row_answer is not None and row_answer.strip() == key and table.scores[prompt_index, m] >= 1.0
        for m, row_answer in enumerate(table.answers[prompt_index])
    )


def _revealed_row(table: OutcomeTable, prompt_index: int, model_index: int) -> RevealedRow:
    row = table.row(prompt_index, model_index)
    return RevealedRow(
        model=row.model,
        response=row.response,
        answer=row.answer,
        cost_usd=row.cost_usd,
        latency_s=row.latency_s,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
    )


def _decide_one(
    policy: ReplayPolicy,
    table: OutcomeTable,
    cards: tuple[ModelCard, ...],
    model_index: dict[str, int],
    prompt_index: int,
    setting: float,
) -> tuple[float, float, int, float]:
    prompt = table.prompts[prompt_index]
    revealed: dict[str, RevealedRow] = {}
    cost = 0.0
    latency = 0.0
    # Each round reveals at least one new model, so len(models) + 1 rounds always suffice.
    for _ in range(len(cards) + 1):
        view = PromptView(prompt, cards, revealed)
        try:
            decision = policy.decide(view, setting)
        except CallRequest as request:
            step_latency = 0.0
            for model in request.models:
                if model not in model_index:
                    raise ProtocolViolationError(
                        f"policy {policy.name!r} called {model!r}, which is not in the table"
                    ) from None
                if model in revealed:
                    raise ProtocolViolationError(
                        f"policy {policy.name!r} requested {model!r} again although it is revealed"
                    ) from None
                m = model_index[model]
                revealed[model] = _revealed_row(table, prompt_index, m)
                cost += float(table.costs[prompt_index, m])
                if np.isfinite(table.latencies[prompt_index, m]):
                    step_latency = max(step_latency, float(table.latencies[prompt_index, m]))
            latency += step_latency
            continue
        if view.requested is not None:
            raise ProtocolViolationError(
                f"policy {policy.name!r} swallowed the call request for {view.requested}; "
                "do not catch BaseException in decide()"
            )
        if not isinstance(decision, Decision):
            raise ProtocolViolationError(
                f"policy {policy.name!r} returned {type(decision).__name__}, expected a Decision"
            )
        if decision.model is not None:
            if decision.model not in revealed:
                raise ProtocolViolationError(
                    f"policy {policy.name!r} returned the response of {decision.model!r} without calling it"
                )
            correct = float(table.scores[prompt_index, model_index[decision.model]])
        else:
            assert decision.answer is not None  # Decision guarantees exactly one of the two
            correct = float(fused_answer_is_correct(table, prompt_index, decision.answer))
        return correct, cost, len(revealed), latency
    raise ProtocolViolationError(f"policy {policy.name!r} kept calling models without deciding")


def replay(
    policy: ReplayPolicy,
    table: OutcomeTable,
    cards: Sequence[ModelCard],
    *,
    settings: Sequence[float] | None = None,
    progress: bool = False,
) -> PolicyRun:
    """Replay a fitted policy on a test table at each knob setting.

    Args:
        policy: A fitted policy.
        table: The test table (the policy never sees its rows, only prompt text and revealed calls).
        cards: The pool's static model cards shown to the policy.
        settings: Knob values to run (default: ``policy.settings()``).
        progress: Show a progress bar.

    Returns:
        The per-setting outcomes.

    Raises:
        ProtocolViolationError: The policy broke the protocol.
    """
    card_tuple = tuple(cards)
    model_index = {model: m for m, model in enumerate(table.models)}
    knob_values = list(policy.settings() if settings is None else settings)
    policy.prepare(list(table.prompts))
    has_latencies = table.has_latencies
    run = PolicyRun(name=policy.name)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(knob_values) * table.n_prompts, desc=f"replay {policy.name}", unit="prompt")
    try:
        for setting in knob_values:
            n = table.n_prompts
            correct, cost, calls = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
            latency = np.full(n, np.nan)
            for p in range(n):
                correct[p], cost[p], calls[p], prompt_latency = _decide_one(
                    policy, table, card_tuple, model_index, p, setting
                )
                if has_latencies:
                    latency[p] = prompt_latency
            if bar is not None:
                bar.update(n)
            run.settings.append(
                SettingRun(
                    setting=float(setting), correct=correct, cost_usd=cost, calls=calls, latency_s=latency
                )
            )
    finally:
        if bar is not None:
            bar.close()
    return run
