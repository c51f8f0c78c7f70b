"""Figures on a hand-made 4-prompt x 3-model table; every expected value is worked out by hand below."""

from __future__ import annotations

import pytest

from langchain_emafusion.evaluation.baselines.simple import RandomMixPolicy
from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.figures import (
    accuracy_at_cost,
    auc_normalized,
    best_single_model,
    build_report,
    cost_ratio_to_accuracy,
    model_figures,
    oracle_figures,
    upper_envelope,
)
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.replay import replay
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable

from .helpers import hand_table


class LadderPolicy(BaseReplayPolicy):
    """Setting 0: A everywhere; 1: B on p2; 2: also C on p3; 3: C everywhere."""

    name = "ladder"

    def settings(self) -> list[float]:
        return [0.0, 1.0, 2.0, 3.0]

    def decide(self, view: PromptView, setting: float) -> Decision:
        prompt_id = view.prompt.removeprefix("question ")
        model = "A"
        if setting == 3.0:
            model = "C"
        elif setting >= 1.0 and prompt_id == "p2":
            model = "B"
        elif setting >= 2.0 and prompt_id == "p3":
            model = "C"
        view.call(model)
        return Decision.respond(model)


def test_single_models_best_and_oracle_by_hand() -> None:
    table = hand_table()
    models = model_figures(table)
    # A right on p1 only, B on p1-p2, C on p1-p3; costs are constant per call.
    assert models == {
        "A": {"accuracy": 0.25, "cost_usd": 1.0},
        "B": {"accuracy": 0.5, "cost_usd": 2.0},
        "C": {"accuracy": 0.75, "cost_usd": 4.0},
    }
    assert best_single_model(models) == "C"
    # Oracle: p1 cheapest right A (1), p2 B (2), p3 C (4), p4 nobody right -> cheapest model A (1).
    assert oracle_figures(table) == {"accuracy": 0.75, "cost_usd": pytest.approx(2.0)}


def test_ladder_frontier_figures_by_hand() -> None:
    table = hand_table()
    run = replay(LadderPolicy(), table, replay_cards(table))
    points = [(setting_run.mean_cost_usd, setting_run.accuracy) for setting_run in run.settings]
    # s0: all A -> (1, .25); s1: p2->B -> cost (1+2+1+1)/4 = 1.25, acc .5;
    # s2: p3->C too -> cost (1+2+4+1)/4 = 2, acc .75; s3: all C -> (4, .75).
    assert points == [(1.0, 0.25), (1.25, 0.5), (2.0, 0.75), (4.0, 0.75)]
    report = build_report(table, [run])
    ladder = report["policies"]["ladder"]
    assert ladder["accuracy_at_best_single_cost"] == 0.75
    # Cheapest point reaching C's 0.75 costs 2; C costs 4.
    assert ladder["cost_ratio_to_best_single_accuracy"] == pytest.approx(0.5)
    # AUC on [1, 4]: (.25+.5)/2*.25 + (.5+.75)/2*.75 + .75*2 = .09375 + .46875 + 1.5 = 2.0625; / 3 = .6875.
    assert ladder["auc_normalized"] == pytest.approx(0.6875)
    assert [point["calls_per_prompt"] for point in ladder["frontier"]] == [1.0, 1.0, 1.0, 1.0]
    assert report["n_prompts"] == 4
    assert report["best_single_model"] == "C"
    assert report["cheapest_single_model"] == "A"


def test_auc_zero_below_first_point_and_envelope_not_decreasing() -> None:
    points = [(2.0, 0.5), (3.0, 0.4), (5.0, 0.9)]
    # Envelope: (2,.5) (3,.5) (5,.9). On [1,4]: 0 on [1,2], .5 on [2,3], .5 -> .7 on [3,4].
    assert upper_envelope(points) == [(2.0, 0.5), (3.0, 0.5), (5.0, 0.9)]
    assert auc_normalized(points, 1.0, 4.0) == pytest.approx((0.0 + 0.5 + 0.6) / 3)
    assert accuracy_at_cost(points, 4.0) == 0.5
    # Only the 5-dollar point reaches .75: ratio 5 / 4.
    assert cost_ratio_to_accuracy(points, 0.75, 4.0) == pytest.approx(1.25)


def test_auc_flat_after_last_point_and_none_when_unreachable() -> None:
    points = [(1.5, 0.6)]
    assert auc_normalized(points, 1.0, 4.0) == pytest.approx(0.6 * 2.5 / 3)
    assert accuracy_at_cost(points, 1.0) is None
    assert cost_ratio_to_accuracy(points, 0.75, 4.0) is None
    # A policy at exactly the target accuracy reaches it (ties count).
    assert cost_ratio_to_accuracy(points, 0.6, 3.0) == pytest.approx(0.5)
    # Degenerate range (best single model is also the cheapest): the envelope's value there.
    assert auc_normalized([(1.0, 0.3), (2.0, 0.7)], 2.0, 2.0) == pytest.approx(0.7)
    # Two points at one cost: the better one counts.
    assert upper_envelope([(1.0, 0.2), (1.0, 0.4)]) == [(1.0, 0.4)]


def test_best_single_model_tie_rules() -> None:
    tied = {"X": {"accuracy": 0.5, "cost_usd": 3.0}, "Y": {"accuracy": 0.5, "cost_usd": 2.0}}
    assert best_single_model(tied) == "Y"  # same accuracy: the cheaper one
    same = {"X": {"accuracy": 0.5, "cost_usd": 2.0}, "Y": {"accuracy": 0.5, "cost_usd": 2.0}}
    assert best_single_model(same) == "X"  # same accuracy and cost: the first listed


def test_oracle_fractional_scores_take_cheapest_model_reaching_best_score() -> None:
    rows = [
        OutcomeRow(prompt_id="q", prompt="q", model="cheap", score=0.5, cost_usd=1.0),
        OutcomeRow(prompt_id="q", prompt="q", model="mid", score=0.8, cost_usd=2.0),
        OutcomeRow(prompt_id="q", prompt="q", model="top", score=0.8, cost_usd=3.0),
    ]
    assert oracle_figures(OutcomeTable(rows)) == {"accuracy": 0.8, "cost_usd": 2.0}


def test_random_mix_endpoints_match_cheapest_and_best_models_exactly() -> None:
    table = hand_table()
    policy = RandomMixPolicy(seed=3)
    policy.fit(table)
    report = build_report(table, [replay(policy, table, replay_cards(table))])
    frontier = report["policies"]["random"]["frontier"]
    assert len(frontier) == 11
    assert (frontier[0]["cost_usd"], frontier[0]["accuracy"]) == (1.0, 0.25)  # p = 0: always A
    assert (frontier[-1]["cost_usd"], frontier[-1]["accuracy"]) == (4.0, 0.75)  # p = 1: always C
    # p = 1 reaches C's accuracy at C's cost, so the ratio is at most 1 (a lucky mix may reach it earlier).
    assert 0.25 <= report["policies"]["random"]["cost_ratio_to_best_single_accuracy"] <= 1.0
    assert report["policies"]["random"]["accuracy_at_best_single_cost"] == 0.75
