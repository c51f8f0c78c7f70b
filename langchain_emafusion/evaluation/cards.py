"""Static model cards for replay: what a policy may know about each model before calling it.

Replay cards are ordinary :class:`~langchain_emafusion.pool.card.ModelCard` objects (name, prices, privacy,
capabilities), so a policy written against live pool cards reads them the same way. They have no chat model
behind them: their factory raises :class:`ReplayOnlyModelError` if anything tries to build one.

Prices come from the table itself: when rows carry token counts, per-model ($/Mtok in, $/Mtok out) are fitted
by least squares to ``cost_usd`` (exact for the converters' tables, whose costs are priced token counts).
Rows with ``cost_usd`` but no token counts (recorded bills) get a per-model cost model instead: cost = a x the
prompt's estimated tokens + a fixed cost per call, fitted to the recorded costs (both terms non-negative); the
fixed part is carried as an output price over :data:`~langchain_emafusion.pool.card.UNKNOWN_OUTPUT_TOKENS`,
the output length tier 1 predicts for such members, so the selector expects each call to cost what the table
billed (tag ``"price-estimated"``). Without costs the prices are unknown and set to 0 (tag
``"price-unknown"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.pool.card import UNKNOWN_OUTPUT_TOKENS, ModelCard

__all__ = [
    "ReplayOnlyModelError",
    "replay_cards",
    "fit_prices",
    "fit_cost_model",
    "cards_to_json",
    "cards_from_json",
]


class ReplayOnlyModelError(EmaFusionError, RuntimeError):
    """Someone tried to build a live chat model from a replay card, which only describes recorded outcomes."""


def _replay_only_factory(name: str) -> Callable[[], BaseChatModel]:
    def build() -> BaseChatModel:
        raise ReplayOnlyModelError(
            f"{name!r} is a replay card (recorded outcomes only); it has no live chat model. "
            "Use a pool's ModelCard with a real model to call it."
        )

    return build


def fit_prices(table: OutcomeTable, model: str) -> tuple[float, float] | None:
    """Fit one model's ($/Mtok input, $/Mtok output) to its rows' ``cost_usd`` and token counts.

    Args:
        table: The outcome table.
        model: The model name.

    Returns:
        The two prices (clipped at 0), or None when the rows lack costs or token counts.
    """
    m = table.models.index(model)
    rows = [table.row(p, m) for p in range(table.n_prompts)]
    usable = [
        row for row in rows if row.cost_usd is not None and row.input_tokens is not None and row.output_tokens
    ]
    if not usable:
        return None
    tokens = np.array([[row.input_tokens, row.output_tokens] for row in usable], dtype=np.float64) / 1e6
    costs = np.array([row.cost_usd for row in usable], dtype=np.float64)
    if np.linalg.matrix_rank(tokens) < 2:
        # Input and output counts are proportional (or one is constant zero): only a blended price is defined.
        blended = float(costs.sum() / tokens.sum()) if tokens.sum() > 0 else 0.0
        return (blended, blended)
    prices, *_ = np.linalg.lstsq(tokens, costs, rcond=None)
    return (max(0.0, float(prices[0])), max(0.0, float(prices[1])))


def fit_cost_model(table: OutcomeTable, model: str) -> tuple[float, float] | None:
    """Fit one model's recorded ``cost_usd`` as a price per estimated prompt token plus a fixed cost per call.

    For tables that record what each call cost but not its token counts: the prompt's length is known at
    decision time (``ceil(len / 4)`` tokens, as everywhere), the answer's is not.

    Args:
        table: The outcome table.
        model: The model name.

    Returns:
        ($/Mtok of prompt, $ per call), both >= 0, or None when the model's rows record no cost.
    """
    m = table.models.index(model)
    rows = [(table.prompts[p], table.row(p, m).cost_usd) for p in range(table.n_prompts)]
    known = [(estimate_tokens(prompt), cost) for prompt, cost in rows if cost is not None]
    if not known:
        return None
    tokens = np.array([t for t, _ in known], dtype=np.float64) / 1e6
    costs = np.array([c for _, c in known], dtype=np.float64)
    if len(known) >= 2 and float(tokens.std()) > 0:
        (per_token, fixed), *_ = np.linalg.lstsq(
            np.stack([tokens, np.ones_like(tokens)], 1), costs, rcond=None
        )
        if per_token >= 0 and fixed >= 0:
            return float(per_token), float(fixed)
        if per_token < 0:  # longer prompts are not dearer: a flat cost per call
            return 0.0, float(costs.mean())
    # No fixed part (or prompts all the same length): cost proportional to the prompt's length.
    return float(costs.sum() / tokens.sum()) if tokens.sum() > 0 else 0.0, 0.0


def replay_cards(table: OutcomeTable) -> tuple[ModelCard, ...]:
    """Build one replay card per model of a table, in the table's model order.

    Args:
        table: The outcome table (typically the training table: prices are the same in both splits).

    Returns:
        Cards whose ``model`` factory raises :class:`ReplayOnlyModelError`.
    """
    cards = []
    for model in table.models:
        prices = fit_prices(table, model)
        tag = []
        if prices is None:
            cost_model = fit_cost_model(table, model)
            if cost_model is not None:
                prices = (cost_model[0], cost_model[1] * 1e6 / UNKNOWN_OUTPUT_TOKENS)
                tag = ["price-estimated"]
            else:
                tag = ["price-unknown"]
        cards.append(
            ModelCard(
                name=model,
                model=_replay_only_factory(model),
                input_price=round(prices[0], 6) if prices else 0.0,
                output_price=round(prices[1], 6) if prices else 0.0,
                tags=["replay", *tag],
            )
        )
    return tuple(cards)


def cards_to_json(cards: Sequence[ModelCard]) -> list[dict[str, Any]]:
    """Serialize replay cards' static facts (everything but the model factory)."""
    return [card.model_dump(mode="json") for card in cards]


def cards_from_json(data: Sequence[dict[str, Any]]) -> tuple[ModelCard, ...]:
    """Rebuild replay cards from :func:`cards_to_json` output (with replay-only factories)."""
    return tuple(ModelCard(model=_replay_only_factory(entry["name"]), **entry) for entry in data)
