"""Training tier 2 on an outcome table: out-of-fold tier-1 predictions, the answer judge, the strategy table.

1. **Out-of-fold predictions.** The training prompts are split into folds; for each fold a tier-1 predictor is
   trained on the other folds and predicts this one. Tier 2 thus learns from predictions as good (and as wrong)
   as those it will get on new prompts, not from a predictor that has memorized its training rows.
2. **Judge.** One row per (prompt, model): tier 1's out-of-fold prediction, the answer's text signals and, where
   the table has answer keys, agreement with one or all other answers; the target is the row's score.
3. **Strategy table.** Every replayable strategy is replayed on (a sample of) the training prompts with those
   predictions, at every knob setting, each fold judged by a judge fitted on the other folds (so the table is
   chosen on judgements as good as those on new prompts, not on a judge's fit to its own rows). Per knob, the
   table-wide choice is the strategy with the best mean utility (score − knob × cost as a share of the
   priciest model's mean cost), provided it beats ``single`` by more than its standard error; a predicted
   task's row keeps that choice unless another strategy beats it on the task's own prompts by more than its
   standard error. Tasks with few prompts use the table-wide choice. A table with neither response texts nor answer keys gets
   ``single`` throughout: there a called answer tells the judge nothing tier 1 did not already predict, so
   calling more members can only cost more. So does a table with fewer than ``min_strategy_prompts``
   training prompts: there one or two prompts decide a knob's choice and the standard error is no guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.replay import replay
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.fusion.judge import AnswerJudge, JudgeInput
from langchain_emafusion.fusion.model import ALL_TASKS, Tier2Model
from langchain_emafusion.fusion.policy import FusionPolicy
from langchain_emafusion.fusion.signals import SIGNAL_NAMES, response_signals
from langchain_emafusion.fusion.strategies import available_strategies, get_strategy
from langchain_emafusion.routing.targets import CalibrationPoint, curve_to_json
from langchain_emafusion.tier1.features import PromptFeaturizer
from langchain_emafusion.tier1.policy import Tier1Policy
from langchain_emafusion.tier1.predictor import Tier1Predictor, TrainingConfig

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "Tier2TrainingConfig",
    "OutOfFold",
    "JudgeRows",
    "out_of_fold_predictions",
    "tier1_out_of_fold",
    "answer_signals",
    "fit_tier2",
    "strategy_table",
]


@dataclasses.dataclass(frozen=True)
class Tier2TrainingConfig:
    """Settings of :func:`fit_tier2`."""

    folds: int = 3
    """Folds of the out-of-fold tier-1 predictions."""
    fold_members: int = 2
    """Networks per fold predictor (fewer than the served predictor's, to keep training quick)."""
    max_calls: int = 3
    """Most members one request may call."""
    strategy_prompts: int = 1500
    """Training prompts replayed to learn the strategy table (a seeded sample when the table is larger)."""
    min_task_prompts: int = 60
    """Fewest prompts of a predicted task for it to get its own row in the strategy table."""
    min_strategy_prompts: int = 100
    """Fewest training prompts for the strategy table to leave ``single`` at all. On 66 synthesized prompts the
    one-standard-error rule let ``select`` through at four knobs, on differences of a prompt or two, and it
    bought a second call for nothing on the held-out prompts."""
    judge_rows: int = 60000
    """Most (prompt, model) rows the judge is fitted on (a seeded sample when there are more)."""


@dataclasses.dataclass
class OutOfFold:
    """Tier-1 predictions for every training prompt, each made by a predictor that did not train on it."""

    quality: np.ndarray
    output_tokens: np.ndarray
    task_probs: np.ndarray | None
    task_labels: list[str]
    fold: np.ndarray
    """(n,) the fold each prompt was held out in."""


def out_of_fold_predictions(
    table: OutcomeTable,
    *,
    featurizer: PromptFeaturizer,
    training: TrainingConfig,
    folds: int,
    members: int,
    progress: bool = False,
) -> OutOfFold:
    """Tier-1 predictions for every prompt of ``table`` by predictors trained on the other folds."""
    if folds < 2:
        raise ValueError(f"out-of-fold predictions need at least 2 folds, got {folds}")
    n, n_models = table.n_prompts, len(table.models)
    labels = sorted({t for t in table.tasks if t is not None})
    order = np.random.default_rng(training.seed).permutation(n)
    quality = np.zeros((n, n_models))
    tokens = np.ones((n, n_models))
    task_probs = np.zeros((n, len(labels))) if labels else None
    fold_of = np.zeros(n, dtype=np.int64)
    config = dataclasses.replace(training, n_members=members)
    for fold in tqdm(range(folds), desc="tier 2: out-of-fold tier 1", unit="fold", disable=not progress):
        held = order[fold::folds]
        fold_of[held] = fold
        held_set = set(held.tolist())
        kept = [table.prompt_ids[p] for p in range(n) if p not in held_set]
        predictor = Tier1Predictor.fit(table.subset(kept), training=config, featurizer=featurizer)
        predicted = predictor.predict([table.prompts[p] for p in held])
        columns = [predictor.models.index(model) for model in table.models]
        quality[held] = predicted.quality[:, columns]
        tokens[held] = predicted.output_tokens[:, columns]
        if task_probs is not None and predicted.task_probs is not None:
            for j, label in enumerate(predictor.task_labels):
                task_probs[held, labels.index(label)] = predicted.task_probs[:, j]
    return OutOfFold(quality, tokens, task_probs, labels, fold_of)


def tier1_out_of_fold(
    table: OutcomeTable,
    *,
    featurizer: PromptFeaturizer,
    training: TrainingConfig,
    config: Tier2TrainingConfig | None = None,
    progress: bool = False,
) -> OutOfFold:
    """The out-of-fold tier-1 predictions tier 2 trains on, with its folds and fold ensemble size."""
    cfg = config or Tier2TrainingConfig()
    return out_of_fold_predictions(
        table,
        featurizer=featurizer,
        training=training,
        folds=cfg.folds,
        members=cfg.fold_members,
        progress=progress,
    )


def answer_signals(table: OutcomeTable, *, answers_expected: bool, progress: bool = False) -> np.ndarray:
    """Every answer's text signals, once per (prompt, member): ``(prompts, models, len(SIGNAL_NAMES))``.

    The judge's rows, its selection-skill check and the fold judges all read these instead of recomputing them
    (on 3,000 prompts x 29 members that is 87,000 answers, each in several rows).
    """
    n, n_models = table.n_prompts, len(table.models)
    signals = np.zeros((n, n_models, len(SIGNAL_NAMES)))
    for p in tqdm(range(n), desc="tier 2: answer signals", unit="prompt", disable=not progress):
        for m in range(n_models):
            row = table.row(p, m)
            signals[p, m] = response_signals(row.response, row.answer, answers_expected=answers_expected)
    return signals


@dataclasses.dataclass
class JudgeRows:
    """The judge's training rows: sparse features (per-model blocks are mostly zero), targets, their prompts."""

    features: sparse.csr_matrix
    targets: np.ndarray
    prompts: np.ndarray
    """(rows,) the prompt index of each row (a fold judge keeps the rows of the other folds' prompts)."""

    def without(self, held: set[int]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The features and targets of the rows whose prompt is not in ``held``."""
        keep = np.flatnonzero(~np.isin(self.prompts, sorted(held)))
        return self.features[keep], self.targets[keep]


def _judge_rows(
    table: OutcomeTable,
    oof: OutOfFold,
    judge: AnswerJudge,
    signals: np.ndarray,
    *,
    limit: int,
    seed: int,
    progress: bool = False,
) -> JudgeRows:
    """The judge's rows: each sampled (prompt, model) answer alone and, with answer keys, beside one other.

    With three or more members also beside all the others: the views the judge gets live.
    """
    from scipy import sparse as scipy_sparse

    rng = np.random.default_rng(seed)
    n_models = len(table.models)
    pairs = [(p, m) for p in range(table.n_prompts) for m in range(n_models)]
    if len(pairs) > limit:
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), size=limit, replace=False))]
    data: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    lengths: list[int] = []
    targets: list[float] = []
    prompts: list[int] = []
    for p, m in tqdm(pairs, desc="tier 2: judge rows", unit="answer", disable=not progress):
        row = table.row(p, m)
        probs = None if oof.task_probs is None else oof.task_probs[p]
        base = JudgeInput(
            table.models[m], float(oof.quality[p, m]), row.response, row.answer, signals=signals[p, m]
        )
        variants = [base]
        if judge.answers_expected and n_models >= 2:
            others = [o for o in range(n_models) if o != m]
            one = int(rng.choice(others))
            variants.append(
                dataclasses.replace(
                    base,
                    others=[(table.answers[p][one], float(oof.quality[p, one]))],
                    other_responses=[table.row(p, one).response],
                )
            )
            if len(others) >= 2:
                variants.append(
                    dataclasses.replace(
                        base,
                        others=[(table.answers[p][o], float(oof.quality[p, o])) for o in others],
                        other_responses=[table.row(p, o).response for o in others],
                    )
                )
        for item in variants:
            vector = judge.features(item, probs)
            nonzero = np.flatnonzero(vector)
            columns.append(nonzero)
            data.append(vector[nonzero])
            lengths.append(len(nonzero))
            targets.append(float(table.scores[p, m]))
            prompts.append(p)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    features = scipy_sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64),
            indptr,
        ),
        shape=(len(targets), len(judge.feature_names())),
    )
    return JudgeRows(features, np.asarray(targets), np.asarray(prompts, dtype=np.int64))


def _selection_skill(
    table: OutcomeTable,
    oof: OutOfFold,
    judge: AnswerJudge,
    signals: np.ndarray,
    *,
    seed: int,
    prompts: Sequence[int] | None = None,
) -> float:
    """Share of two-answer disagreements (exactly one right) where the judge prefers the right answer."""
    rng = np.random.default_rng(seed + 1)
    wins = total = 0
    pool = np.arange(table.n_prompts) if prompts is None else np.asarray(prompts)
    for p in rng.permutation(pool)[:3000]:
        right = [m for m in range(len(table.models)) if table.scores[p, m] >= 0.5]
        wrong = [m for m in range(len(table.models)) if table.scores[p, m] < 0.5]
        if not right or not wrong:
            continue
        a, b = int(rng.choice(right)), int(rng.choice(wrong))
        probs = None if oof.task_probs is None else oof.task_probs[p]
        scores = []
        for me, other in ((a, b), (b, a)):
            item = JudgeInput(
                table.models[me],
                float(oof.quality[p, me]),
                table.row(p, me).response,
                table.answers[p][me] if judge.answers_expected else None,
                others=[
                    (
                        table.answers[p][other] if judge.answers_expected else None,
                        float(oof.quality[p, other]),
                    )
                ],
                other_responses=[table.row(p, other).response],
                signals=signals[p, me],
            )
            scores.append(judge.probability(item, probs))
        total += 1
        wins += scores[0] > scores[1]
    return wins / total if total else 0.5


def fit_tier2(
    table: OutcomeTable,
    *,
    featurizer: PromptFeaturizer,
    training: TrainingConfig | None = None,
    config: Tier2TrainingConfig | None = None,
    knobs: Sequence[float] | None = None,
    out_of_fold: OutOfFold | None = None,
    progress: bool = False,
) -> Tier2Model:
    """Train tier 2 on a training table (see the module docstring for the three steps).

    Args:
        table: The training outcome table.
        featurizer: The tier-1 featurizer (shares the served predictor's embedding cache).
        training: Tier-1 hyper-parameters of the fold predictors (seed included).
        config: Tier-2 settings.
        knobs: Knob values of the strategy table (default: tier 1's sweep).
        out_of_fold: Tier 1's out-of-fold predictions, when the caller has them already (``train_policy``
            computes them to choose tier 1's router and passes the chosen router's); computed here otherwise.
        progress: Show progress bars.
    """
    from langchain_emafusion.tier1.selector import KNOB_SETTINGS

    cfg = config or Tier2TrainingConfig()
    training = training or TrainingConfig()
    knob_values = sorted(knobs or KNOB_SETTINGS)
    oof = out_of_fold or tier1_out_of_fold(
        table, featurizer=featurizer, training=training, config=cfg, progress=progress
    )
    answers_expected = table.has_answers and len(table.models) >= 2
    signals = answer_signals(table, answers_expected=answers_expected, progress=progress)
    template = AnswerJudge(table.models, oof.task_labels, answers_expected=answers_expected)
    rows = _judge_rows(
        table, oof, template, signals, limit=cfg.judge_rows, seed=training.seed, progress=progress
    )

    def fitted_judge(held: set[int]) -> AnswerJudge:
        """The judge fitted on the rows of prompts outside ``held`` (all of them for the served judge)."""
        judge = AnswerJudge(table.models, oof.task_labels, answers_expected=answers_expected)
        x, y = rows.without(held)
        judge.fit(x, y, seed=training.seed)
        kept = [p for p in range(table.n_prompts) if p not in held]
        judge.selection_skill = _selection_skill(table, oof, judge, signals, seed=training.seed, prompts=kept)
        return judge

    judge = fitted_judge(set())
    judge_rows = len(rows.targets)
    informative = answers_expected or any(
        table.row(p, m).response for p in range(table.n_prompts) for m in range(len(table.models))
    )
    enough_prompts = table.n_prompts >= cfg.min_strategy_prompts

    # Replay every strategy on a sample of the training prompts with the out-of-fold predictions, each fold
    # judged by a judge that never saw its rows.
    rng = np.random.default_rng(training.seed + 2)
    sample = sorted(rng.permutation(table.n_prompts)[: cfg.strategy_prompts].tolist())
    sample_folds = [[p for p in sample if oof.fold[p] == fold] for fold in range(int(oof.fold.max()) + 1)]
    sample = [p for ps in sample_folds for p in ps]
    tier1 = Tier1Policy(predictor=_NoPredictor(table.models))  # type: ignore[arg-type]
    for p in sample:
        probs = None if oof.task_probs is None else oof.task_probs[p]
        tier1.remember(table.prompts[p], oof.quality[p], oof.output_tokens[p], probs)
    cards = replay_cards(table)
    reference_cost = float(table.costs.mean(axis=0).max()) or 1.0
    everything_single = {ALL_TASKS: ["single"] * len(knob_values)}
    names = [
        name
        for name in available_strategies()
        if not get_strategy(name).live_only
        and (name != "vote" or answers_expected)
        and (name == "single" or (informative and enough_prompts))
    ]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    # What each strategy scored and cost per prompt and knob: the served system's out-of-fold calibration curve.
    scored: dict[str, list[np.ndarray]] = {name: [] for name in names}
    billed: dict[str, list[np.ndarray]] = {name: [] for name in names}
    bar = tqdm(
        total=sum(1 for ps in sample_folds if ps) * len(names),
        desc="tier 2: strategy replay",
        unit="replay",
        disable=not progress,
    )
    for fold_prompts in sample_folds:
        if not fold_prompts:
            continue
        fold_judge = fitted_judge(set(fold_prompts))
        placeholder = Tier2Model(fold_judge, knob_values, everything_single, answers_expected, cfg.max_calls)
        replay_table = table.subset([table.prompt_ids[p] for p in fold_prompts])
        # One judgement memo per fold: every strategy judges the same answers with the same fold judge.
        judged: dict[Any, dict[str, float]] = {}
        for name in names:
            run = replay(
                FusionPolicy(tier1, placeholder, force_strategy=name, judge_cache=judged),
                replay_table,
                cards,
                settings=knob_values,
            )
            bar.update()
            parts[name].append(
                np.stack(
                    [
                        s.correct - knob * s.cost_usd / reference_cost
                        for knob, s in zip(knob_values, run.settings, strict=True)
                    ],
                    axis=1,
                )  # (prompts of this fold, knobs)
            )
            scored[name].append(np.stack([s.correct for s in run.settings], axis=1))
            billed[name].append(np.stack([s.cost_usd for s in run.settings], axis=1))
    bar.close()
    utility = {name: np.concatenate(values) for name, values in parts.items()}
    placeholder = Tier2Model(judge, knob_values, everything_single, answers_expected, cfg.max_calls)
    tasks = [
        placeholder.predicted_task(None if oof.task_probs is None else oof.task_probs[p]) for p in sample
    ]
    groups: dict[str, np.ndarray] = {ALL_TASKS: np.arange(len(sample))}
    for label in sorted({t for t in tasks if t is not None}):
        members = np.array([i for i, t in enumerate(tasks) if t == label])
        if len(members) >= cfg.min_task_prompts:
            groups[label] = members
    strategies = strategy_table(utility, groups, len(knob_values))
    curve = _served_curve(
        {name: np.concatenate(values) for name, values in scored.items()},
        {name: np.concatenate(values) for name, values in billed.items()},
        [strategies.get(task or ALL_TASKS, strategies[ALL_TASKS]) for task in tasks],
        knob_values,
    )
    info: dict[str, Any] = {
        "folds": cfg.folds,
        "fold_members": cfg.fold_members,
        "strategy_prompts": len(sample),
        "judge_rows": judge_rows,
        "judged_out_of_fold": True,
        "multi_call_strategies": (
            "skipped: the table has no response texts or answer keys, so a called answer tells the "
            "judge nothing tier 1 had not predicted"
            if not informative
            else f"skipped: {table.n_prompts} training prompts, fewer than min_strategy_prompts="
            f"{cfg.min_strategy_prompts}"
            if not enough_prompts
            else "replayed"
        ),
        "selection_skill": round(judge.selection_skill, 4),
        "out_of_fold_curve": curve_to_json(curve),
        "training_utility": {
            name: [round(float(v), 5) for v in values.mean(axis=0)] for name, values in utility.items()
        },
    }
    return Tier2Model(judge, knob_values, strategies, answers_expected, cfg.max_calls, info)


def _served_curve(
    scored: dict[str, np.ndarray],
    billed: dict[str, np.ndarray],
    rows: Sequence[Sequence[str]],
    knobs: Sequence[float],
) -> list[CalibrationPoint]:
    """Per knob, the accuracy and mean cost of the strategy each prompt's task row chose there."""
    points = []
    for k, knob in enumerate(knobs):
        correct = [scored[row[k]][i, k] for i, row in enumerate(rows)]
        cost = [billed[row[k]][i, k] for i, row in enumerate(rows)]
        points.append(CalibrationPoint(float(knob), float(np.mean(correct)), float(np.mean(cost))))
    return points


def strategy_table(
    utility: dict[str, np.ndarray], groups: dict[str, np.ndarray], n_knobs: int
) -> dict[str, list[str]]:
    """The strategy table from out-of-fold utilities: a row per group of prompts, a strategy per knob.

    Args:
        utility: Per strategy, ``(prompts, knobs)`` utilities (``single`` among them).
        groups: Row name → the prompts (row indices of ``utility``) it is chosen on; ``ALL_TASKS`` holds all.
        n_knobs: Knob settings.

    The table-wide row is chosen against ``single``; a task's row keeps the table-wide choice at a knob unless
    another strategy beats that choice on the task's own prompts by more than its noise. A task's ~100 prompts
    are too few to pick among six strategies afresh: chosen against ``single`` alone, the per-task rows
    followed noise (replayed on mmlu-pro, five split seeds, they were 1.5 points below this rule at gpt-4o's
    cost).
    """
    table_wide = _best_row(utility, groups[ALL_TASKS], ["single"] * n_knobs)
    return {
        group: table_wide if group == ALL_TASKS else _best_row(utility, rows, table_wide)
        for group, rows in groups.items()
    }


def _best_row(utility: dict[str, np.ndarray], rows: np.ndarray, default: Sequence[str]) -> list[str]:
    """Per knob: the strategy with the best mean utility, if it beats the default by more than its noise."""
    choice = []
    for k, fallback in enumerate(default):
        reference = utility[fallback][rows, k]
        best, best_mean = fallback, float(reference.mean())
        for name, values in utility.items():
            if name == fallback:
                continue
            difference = values[rows, k] - reference
            mean = float(difference.mean())
            noise = float(difference.std(ddof=1) / np.sqrt(len(rows))) if len(rows) > 1 else float("inf")
            if mean > noise and float(values[rows, k].mean()) > best_mean:
                best, best_mean = name, float(values[rows, k].mean())
        choice.append(best)
    return choice


class _NoPredictor:
    """Stands in for a predictor when every prediction is supplied up front (``Tier1Policy.remember``)."""

    def __init__(self, models: Sequence[str]) -> None:
        self.models = list(models)

    def predict(self, prompts: Sequence[str]) -> Any:
        raise RuntimeError("tier-2 training replays only prompts with remembered out-of-fold predictions")
