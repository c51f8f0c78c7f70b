"""Replay cards of a table that records what calls cost but not their token counts (recorded bills)."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_emafusion.evaluation.cards import fit_cost_model, replay_cards
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable
from langchain_emafusion.pool.card import UNKNOWN_OUTPUT_TOKENS
from langchain_emafusion.tier1.selector import KNOB_SETTINGS, select_models


def billed_table(with_costs: bool = True) -> OutcomeTable:
    """Three members billed per call: a cheap flat one, a mid one priced by prompt length, a dear one."""
    rows = []
    for i in range(40):
        prompt = "word " * (5 + 7 * i)
        tokens = estimate_tokens(prompt)
        bills = {"cheap": 1e-6, "mid": 2e-8 * tokens + 5e-6, "dear": 3e-6 * tokens + 1e-4}
        for model, cost in bills.items():
            rows.append(
                OutcomeRow(
                    prompt_id=f"p{i}",
                    prompt=prompt,
                    model=model,
                    score=float(model == "dear" or i % 2 == 0),
                    cost_usd=cost if with_costs else None,
                )
            )
    return OutcomeTable(rows)


def test_the_cost_model_recovers_a_per_token_price_and_a_fixed_cost_per_call() -> None:
    table = billed_table()
    per_token, fixed = fit_cost_model(table, "mid")  # type: ignore[misc]
    assert per_token == pytest.approx(2e-8 * 1e6, rel=1e-6) and fixed == pytest.approx(5e-6, rel=1e-6)
    assert fit_cost_model(table, "cheap") == pytest.approx((0.0, 1e-6))
    assert fit_cost_model(billed_table(with_costs=False), "mid") is None


def test_costs_only_cards_expect_what_the_table_billed_and_give_a_full_frontier() -> None:
    table = billed_table()
    cards = replay_cards(table)
    assert all("price-estimated" in card.tags for card in cards)
    for p in (0, 17, 39):
        tokens = estimate_tokens(table.prompts[p])
        for m, card in enumerate(cards):
            expected = card.cost_usd(tokens, int(UNKNOWN_OUTPUT_TOKENS))
            assert expected == pytest.approx(table.costs[p, m], rel=1e-3, abs=1e-9)
    # The selector now sees the dear member as dear: a large knob leaves it for the cheap one, a zero knob
    # takes it (every member priced 0, as before, chose the best-predicted member at every knob).
    quality = np.array([0.5, 0.5, 0.9])
    tokens = np.full(3, UNKNOWN_OUTPUT_TOKENS)
    chosen = {
        select_models(cards, quality, tokens, input_tokens=estimate_tokens(table.prompts[20]), knob=k).best
        for k in KNOB_SETTINGS
    }
    assert chosen == {"dear", "cheap"}


def test_a_table_without_costs_keeps_unknown_prices() -> None:
    cards = replay_cards(billed_table(with_costs=False))
    assert all("price-unknown" in card.tags and card.input_price == card.output_price == 0 for card in cards)
