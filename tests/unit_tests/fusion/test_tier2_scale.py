"""Tier 2 at scale: bounded arithmetic signals, answer signals computed once, a sparse judge, tables read gzipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from langchain_emafusion.evaluation.baselines.common import fit_soft_logistic
from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.evaluation.protocol import PromptView
from langchain_emafusion.evaluation.table import read_outcomes, write_outcomes
from langchain_emafusion.evaluation.training import load_training_table, train_policy
from langchain_emafusion.fusion.judge import AnswerJudge, JudgeInput
from langchain_emafusion.fusion.signals import (
    MAX_CHAIN_OPERANDS,
    MAX_SIGNAL_CHARS,
    MAX_STEPS,
    SIGNAL_NAMES,
    check_arithmetic,
    response_signals,
)
from langchain_emafusion.fusion.training import (
    _judge_rows,
    answer_signals,
    fit_tier2,
    out_of_fold_predictions,
)
from langchain_emafusion.tier1.features import PromptFeaturizer
from langchain_emafusion.tier1.policy import Tier1Policy
from tests.unit_tests.fusion.test_fusion import FAST, LEXICAL, vote_table


# --- the arithmetic check -------------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_a_chain_longer_than_the_bound_is_skipped_whole_and_raises_nothing() -> None:
    # 3,000 steps raised RecursionError from ast.parse; now the chain is passed over as a whole (a recomputed
    # tail of it would be "wrong"), and the step after it is still checked.
    long_chain = "+".join(["1"] * 3000) + " = 3001"
    assert check_arithmetic(long_chain) == check_arithmetic("no steps")
    assert check_arithmetic(long_chain + ". Then 2 + 2 = 5.").wrong == 1
    at_bound = "+".join(["1"] * MAX_CHAIN_OPERANDS) + f" = {MAX_CHAIN_OPERANDS}"
    assert (check_arithmetic(at_bound).steps, check_arithmetic(at_bound).wrong) == (1, 0)
    over = "+".join(["1"] * (MAX_CHAIN_OPERANDS + 1)) + f" = {MAX_CHAIN_OPERANDS + 1}"
    assert check_arithmetic(over).steps == 0


@pytest.mark.timeout(30)
def test_looping_answers_are_read_in_bounded_time_and_counting_stops() -> None:
    looping = "1.00 × 1000 × " * 80_000  # ~1 MB: backtracked for minutes under the old nested regex
    assert check_arithmetic(looping).steps == 0
    assert check_arithmetic("- 94.26 " * 130_000).steps == 0
    assert check_arithmetic("1+1=2 " * 200_000).steps == MAX_STEPS


def test_precedence_signs_currency_and_chained_results() -> None:
    check = check_arithmetic("2 + 3 * 4 = 14; 3 * -2 = -6; $17 - $175 = -$158; 10 / 0 = 1")
    assert (check.steps, check.wrong) == (3, 0)  # division by zero is not a step
    # The result of one step opens the next.
    assert (check_arithmetic("2 * 3 = 6 * 2 = 13").steps, check_arithmetic("2 * 3 = 6 * 2 = 13").wrong) == (
        2,
        1,
    )
    # A parenthesized expression is not recomputed, nor is a piece of what follows it ("100 - 175 = 150").
    assert check_arithmetic("(17 - 14.5) * 100 - 175 = 150 - 175 = -25").steps == 0
    # A list marker is not an expression: "2) 5 + 3 = 9" is a (wrong) step.
    assert check_arithmetic("1) 4 + 4 = 8\n2) 5 + 3 = 9").wrong == 1
    # As before: a number glued to a word or a version string does not start a step.
    assert check_arithmetic("v2 + 3 = 5").steps == 0


def test_signals_read_both_ends_of_a_long_answer() -> None:
    refusal_then_loop = "I cannot help with that. " + "la " * 100_000
    signals = response_signals(refusal_then_loop, None, answers_expected=False)
    assert signals[SIGNAL_NAMES.index("refusal")] == 1.0
    assert signals[SIGNAL_NAMES.index("log_length")] == pytest.approx(np.log1p(len(refusal_then_loop)) / 8)
    wrong_at_the_end = "x" * (3 * MAX_SIGNAL_CHARS) + " so 6 * 7 = 41"
    assert (
        response_signals(wrong_at_the_end, "41", answers_expected=True)[
            SIGNAL_NAMES.index("any_arithmetic_wrong")
        ]
        == 1.0
    )
    # The memoized short-text path returns a fresh array each time (callers may write into it).
    first = response_signals("3 * 4 = 13", None, answers_expected=True)
    first[:] = -1
    assert (
        response_signals("3 * 4 = 13", None, answers_expected=True)[SIGNAL_NAMES.index("arithmetic_wrong")]
        > 0
    )


# --- training -------------------------------------------------------------------------------------------
def test_answer_signals_are_those_of_each_row_and_the_judge_rows_are_sparse_but_equal() -> None:
    table = vote_table(30)
    signals = answer_signals(table, answers_expected=True)
    assert signals.shape == (30, 3, len(SIGNAL_NAMES))
    row = table.row(4, 1)
    np.testing.assert_array_equal(
        signals[4, 1], response_signals(row.response, row.answer, answers_expected=True)
    )
    oof = out_of_fold_predictions(
        table, featurizer=PromptFeaturizer(LEXICAL), training=FAST, folds=2, members=1
    )
    judge = AnswerJudge(table.models, oof.task_labels, answers_expected=True)
    rows = _judge_rows(table, oof, judge, signals, limit=10_000, seed=0)
    # Each answer alone, beside one other and beside both others.
    assert rows.features.shape == (30 * 3 * 3, len(judge.feature_names()))
    assert rows.features.nnz < 0.5 * rows.features.shape[0] * rows.features.shape[1]
    first = JudgeInput(
        table.models[0], float(oof.quality[0, 0]), table.row(0, 0).response, table.row(0, 0).answer
    )
    np.testing.assert_allclose(rows.features[0].toarray()[0], judge.features(first, oof.task_probs[0]))
    held = {0, 1, 2}
    x, y = rows.without(held)
    assert x.shape[0] == len(y) == (30 - 3) * 9 and not set(rows.prompts[rows.prompts < 3]) - held


def test_the_sparse_logistic_fit_equals_the_dense_one() -> None:
    from scipy import sparse

    rng = np.random.default_rng(0)
    dense = np.where(rng.random((400, 30)) < 0.1, rng.normal(size=(400, 30)), 0.0)
    targets = (dense[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(float)
    targets[:20] = 0.5  # soft targets enter twice, as a weighted positive and negative
    w_dense, b_dense = fit_soft_logistic(dense, targets)
    w_sparse, b_sparse = fit_soft_logistic(sparse.csr_matrix(dense), targets)
    np.testing.assert_allclose(w_sparse, w_dense, atol=1e-4)
    assert b_sparse == pytest.approx(b_dense, abs=1e-4)


def test_tier2_training_shows_every_stage_it_spends_time_in(capsys: pytest.CaptureFixture[str]) -> None:
    fit_tier2(vote_table(120), featurizer=PromptFeaturizer(LEXICAL), training=FAST, progress=True)
    shown = capsys.readouterr().err
    for stage in ("out-of-fold tier 1", "answer signals", "judge rows", "strategy replay"):
        assert f"tier 2: {stage}" in shown


def test_the_selection_is_reused_within_one_prompt_and_knob_only() -> None:
    table = vote_table(6)
    policy = Tier1Policy(predictor=None)
    policy.predictor = type("P", (), {"models": table.models})()  # type: ignore[assignment]
    for p in range(table.n_prompts):
        policy.remember(table.prompts[p], np.array([0.6, 0.5, 0.9]), np.ones(3), None)
    cards = replay_cards(table)
    view = PromptView(table.prompts[0], cards)
    first = policy.selection(view, 0.0)
    assert policy.selection(PromptView(table.prompts[0], view.cards), 0.0) is first
    assert policy.selection(view, 1.0) is not first
    assert policy.selection(PromptView(table.prompts[1], view.cards), 0.0) is not first
    assert policy.selection(PromptView(table.prompts[0], replay_cards(table)), 0.0) is not first


# --- gzipped tables -------------------------------------------------------------------------------------
def test_a_gzipped_table_reads_trains_and_saves_a_plain_copy(tmp_path: Path) -> None:
    plain = write_outcomes(vote_table(40), tmp_path / "t.jsonl")
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_outcomes(packed).content_hash() == read_outcomes(plain).content_hash()
    manifest = train_policy(packed, tmp_path / "policy", features=LEXICAL, training=FAST, tier2=False)
    assert manifest["train_s"]["tier1"] > 0 and manifest["train_s"]["tier2"] is None
    saved = tmp_path / "policy" / "train_outcomes.jsonl"
    assert json.loads(saved.read_text().splitlines()[0])["prompt_id"] == "p0"  # plain JSONL, not gzip
    assert load_training_table(tmp_path / "policy").content_hash() == read_outcomes(plain).content_hash()
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(OutcomeTableError, match="gzip"):
        read_outcomes(broken)


def test_the_reused_selection_follows_new_predictions() -> None:
    table = vote_table(2)
    policy = Tier1Policy(predictor=None)
    policy.predictor = type("P", (), {"models": table.models})()  # type: ignore[assignment]
    policy.remember(table.prompts[0], np.array([0.9, 0.1, 0.1]), np.ones(3), None)
    view = PromptView(table.prompts[0], replay_cards(table))
    assert policy.selection(view, 0.0).best == table.models[0]
    policy.remember(table.prompts[0], np.array([0.1, 0.9, 0.1]), np.ones(3), None)
    assert policy.selection(view, 0.0).best == table.models[1]
