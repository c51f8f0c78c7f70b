"""Decomposition replay benchmark: does routing each part of a multi-part prompt beat one member answering all?

    python benchmarks/decomposition_replay.py                                  # llmrouter and mmlu-pro, seeds 0-4
    python benchmarks/decomposition_replay.py --tables llmrouter --seeds 0 --composites 300

Composites are made from recorded outcome tables only (../shared/docs/EVALUATION.md's replay protocol: every
answer and cost is a recorded row). For each (table, seed) the prompts are split 80/20 by ``split_outcomes`` (the
generalization and targets benchmarks' splits) and the tier-1 policy trained on the train split is reused from
the targets benchmark's cache (``~/.cache/langchain-emafusion/benchmarks/targets/<table>/seed<seed>/policy``,
else ``policy-tier1``, a tier-1-only policy whose tier 1 is the same fit; trained here with
``train_policy`` when neither exists; ``--tier1-only``, or a full policy folder another process has not
finished within ``--wait-minutes``, trains the tier-1-only one: this benchmark uses tier 1 alone). From the
TEST split only, seeded random groups of 2, 3 or 4 prompts (sizes uniform; parts of more than ``MAX_PART_TOKENS`` estimated
tokens are left out) are joined as a user writes a multi-part request::

    Answer each of the following.

    1) <prompt A>

    2) <prompt B>

Paths, each swept over tier 1's ``KNOB_SETTINGS`` (the same knob for every call of a composite):

- ``direct``: tier 1 routes the whole composite (predictions on the composite text, selection with its estimated
  input tokens) to ONE member; that member's recorded row of each part gives the part's score, and the cost is
  the sum of those rows' ``cost_usd``.
- ``best single``: the member with the best mean score on the train split answers every part (one point).
- ``per-part``: tier 1 routes each part on its own (its recorded row), with a perfect split that costs nothing and
  no merge: the upper bound of decomposition.
- ``decomposed (ideal split)``: ``per-part`` plus the decomposer call and the merge call (costs below).
- ``as built + gain``: as built, after the graph's expected-gain decision (``graph/gain.py``, fed with the same
  tier-1 predictions): a split it declines is answered whole at the direct path's cost, with no decomposer call.
- ``decomposed (as built)``: what the package's graph would do without that decision. A numbered task list under its header
  (``graph/rule.py``'s ``listed_tasks``, the composites' own format) is split by its items with no decomposer
  call. Otherwise the cheap clause rule is run on the
  composite: no split (``looks_multi_task`` false, or more than ``MAX_SUBTASKS`` task clauses) means the direct
  path at no extra cost; otherwise the decomposer is called (cost counted) and is constrained to exactly as many
  subtasks as the rule found clauses, or one. When that count differs from the number of parts, or the plan
  (the parts' texts as JSON) exceeds the decomposer's token limit (384, so the plan would be cut and refused),
  the composite is answered whole: the direct path plus the decomposer's cost. Else the parts are routed
  as in ``per-part``, plus the merge.

Costs of the decomposer and the merge (no live decomposer here; a modelled call, stated in the results): each
is one call to the table's cheapest member for that call (the policy's replay cards' prices, fitted to the
recorded costs). Decomposer: input = the graph's decomposer prompt (instructions, the composite, the rule's draft
plan), output = the JSON plan of the true parts. Merge: input = the graph's merge prompt (instructions, the
composite, each part's task and answer), output = the parts' answers; a part's answer is its recorded
``response`` (tokens estimated by ``estimate_tokens``) or, without one, its recorded ``output_tokens``. The
merge is assumed to keep every part's answer (the graph checks it with ``part_survives`` and falls back to the
sectioned answer, so a part's score is its row's score).

Figures (test composites; a part's score is its row's ``score``; all-parts = product of the parts' scores):
per-part accuracy, all-parts accuracy and mean $/composite per path and knob; against each direct point, the
decomposed per-part accuracy at the direct path's cost (highest decomposed frontier accuracy with mean cost <=
it, EVALUATION.md's definition) and the cost ratio at which the decomposed frontier first reaches the direct
accuracy; the issue's target is "+2 points at the direct cost, or the same accuracy at <= 0.7x the cost".
95% bootstrap intervals over composites (resampled within each seed, the statistic averaged over seeds), on all
composites and on those none of whose parts repeats a training prompt word for word. Writes
``benchmarks/results/decomposition_replay.md`` and ``.json``; per-(table, seed) runs are cached under
``~/.cache/langchain-emafusion/benchmarks/decomposition_replay`` (``--fresh`` redoes them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.generalization import load_table  # noqa: E402
from langchain_emafusion.evaluation.cards import replay_cards  # noqa: E402
from langchain_emafusion.evaluation.converters import default_shared_dir, estimate_tokens  # noqa: E402
from langchain_emafusion.evaluation.table import OutcomeTable, split_outcomes, write_outcomes  # noqa: E402
from langchain_emafusion.evaluation.training import (  # noqa: E402
    load_cards,
    load_tier1_policy,
    train_policy,
)
from langchain_emafusion.graph import builder  # noqa: E402
from langchain_emafusion.graph.decomposition import MAX_SUBTASKS  # noqa: E402
from langchain_emafusion.graph.gain import expected_split_gain, merge_cost_estimate  # noqa: E402
from langchain_emafusion.graph.rule import listed_tasks, looks_multi_task, task_clauses  # noqa: E402
from langchain_emafusion.pool.card import ModelCard  # noqa: E402
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.base import RoutingDecision  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402
from langchain_emafusion.tier1.features import PromptFeaturizer  # noqa: E402
from langchain_emafusion.tier1.policy import Tier1Policy  # noqa: E402
from langchain_emafusion.tier1.predictor import Tier1Predictor, TrainingConfig  # noqa: E402
from langchain_emafusion.tier1.selector import KNOB_SETTINGS, select_models  # noqa: E402

TABLES = ("llmrouter", "mmlu-pro")
SEEDS = (0, 1, 2, 3, 4)
TEST_FRACTION = 0.2
COMPOSITES = 300
SIZES = (2, 3, 4)
MAX_PART_TOKENS = 1000
DECOMPOSER_MAX_TOKENS = 384  # create_fusion_graph's default decomposer_max_tokens
HEADER = "Answer each of the following."
BOOTSTRAP = 1000
TARGET_GAIN = 0.02
TARGET_RATIO = 0.7
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
PATHS = ("direct", "per-part", "decomposed (ideal split)", "decomposed (as built)", "as built + gain")
_FORMAT = 2


def work_root() -> Path:
    return cache_dir() / "benchmarks" / "decomposition_replay"


def targets_dir(name: str, seed: int) -> Path:
    """The targets benchmark's folder for (table, seed): its policies are shared."""
    return cache_dir() / "benchmarks" / "targets" / name / f"seed{seed}"


def tier1_saved(folder: Path) -> bool:
    """Whether ``train_policy`` has saved tier 1 into ``folder`` (it does so before training tier 2)."""
    config = folder / "tier1.json"
    return config.is_file() and time.time() - config.stat().st_mtime > 5


def policy_folder(
    table: OutcomeTable, name: str, seed: int, encoder: PromptEncoder, tier1_only: bool, wait_minutes: float
) -> Path:
    """A trained policy for (table, seed): the targets benchmark's, waited for or trained when missing."""
    work = targets_dir(name, seed)
    full, tier1 = work / "policy", work / "policy-tier1"
    deadline = time.monotonic() + 60 * wait_minutes
    # A full policy folder without its manifest (nor run.json) is being trained by another process: wait for it.
    while full.is_dir() and not (work / "run.json").is_file() and time.monotonic() < deadline:
        if (full / "manifest.json").is_file() or (tier1 / "manifest.json").is_file() or tier1_saved(full):
            break
        print(f"  waiting for {full} (being trained by another process) ...", flush=True)
        time.sleep(30)
    for folder in (full, tier1):
        if (folder / "manifest.json").is_file():
            return folder
    if tier1_saved(full):
        return full  # tier 1 is saved; tier 2 (not used here) is still being trained
    train, _ = split_outcomes(table, test_fraction=TEST_FRACTION, seed=seed)
    # Never train into a folder another process may be writing: then (or with --tier1-only) tier 1 alone.
    folder = tier1 if tier1_only or full.is_dir() else full
    print(f"  training {folder} ...", flush=True)
    train_policy(
        write_outcomes(train, work / "train.jsonl"), folder, seed=seed, encoder=encoder, tier2=folder == full
    )
    return folder


def composite_text(parts: list[str]) -> str:
    """Parts joined as a user writes a numbered multi-part request."""
    return HEADER + "\n\n" + "\n\n".join(f"{i}) {p.strip()}" for i, p in enumerate(parts, 1))


def make_composites(test: OutcomeTable, n: int, seed: int) -> tuple[list[list[int]], int]:
    """Seeded groups of 2-4 test prompts (indices into ``test``), and how many prompts were left out as long."""
    eligible = [i for i, p in enumerate(test.prompts) if estimate_tokens(p) <= MAX_PART_TOKENS]
    rng = np.random.default_rng(10_000 + seed)
    groups = [
        sorted(rng.choice(eligible, size=int(rng.choice(SIZES)), replace=False).tolist()) for _ in range(n)
    ]
    return groups, test.n_prompts - len(eligible)


def cheapest_cost(cards: list[ModelCard], input_tokens: int, output_tokens: int) -> float:
    """US$ of one call to the member that is cheapest for these token counts."""
    return min(card.cost_usd(input_tokens, output_tokens) for card in cards)


def decomposer_call(composite: str, parts: list[str]) -> tuple[int, int]:
    """(input, output) tokens of the graph's decomposer call: its prompt with the rule's draft; the true plan."""
    draft = {
        "subtasks": [
            {"id": f"t{k}", "task": clause, "depends_on": [], "difficulty": "medium"}
            for k, clause in enumerate(task_clauses(composite), start=1)
        ]
    }
    prompt = (
        builder._DECOMPOSER_INSTRUCTIONS
        + f"Request:\n{composite}\n\nDraft plan from a simple rule; return it corrected (make each task "
        f"self-contained, set depends_on where a part needs another's answer):\n{json.dumps(draft)}"
    )
    plan = {
        "subtasks": [
            {"id": f"t{k}", "task": p.strip(), "depends_on": [], "difficulty": "medium"}
            for k, p in enumerate(parts, start=1)
        ]
    }
    return estimate_tokens(prompt), estimate_tokens(json.dumps(plan))


def answer_tokens(test: OutcomeTable, prompt: int, model: int) -> int:
    row = test.row(prompt, model)
    if row.response:
        return estimate_tokens(row.response)
    return int(row.output_tokens or 0)


def merge_call(composite: str, parts: list[str], answers: list[int]) -> tuple[int, int]:
    """(input, output) tokens of the graph's merge call over the parts' answers."""
    text = f"{builder._MERGE_INSTRUCTIONS}\n\nRequest:\n{composite}\n\nAnswers to its parts:\n" + "\n\n".join(
        f"[{i}] {p.strip()}" for i, p in enumerate(parts, 1)
    )
    return estimate_tokens(text) + sum(answers), sum(answers)


def run_one(
    table: OutcomeTable,
    name: str,
    seed: int,
    n_composites: int,
    encoder: PromptEncoder,
    tier1_only: bool,
    fresh: bool,
    wait_minutes: float = 10.0,
    quick: bool = False,
    cached_only: bool = False,
) -> dict[str, Any] | None:
    saved = work_root() / name / f"seed{seed}" / f"run{n_composites}{'-quick' if quick else ''}.json"
    if saved.is_file() and not fresh:
        cached: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
        if cached.get("format") == _FORMAT:
            return cached
    if cached_only:
        return None
    started = time.perf_counter()
    train, test = split_outcomes(table, test_fraction=TEST_FRACTION, seed=seed)
    if quick:
        folder = work_root() / name / f"seed{seed}" / "tier1-quick"
        if not (folder / "tier1.json").is_file():
            print(f"  fitting a reduced tier 1 into {folder} ...", flush=True)
            quick_fit = Tier1Predictor.fit(
                train,
                training=TrainingConfig(n_members=1, seed=seed),
                featurizer=PromptFeaturizer(encoder=encoder),
            )
            quick_fit.save(folder)
    else:
        folder = policy_folder(table, name, seed, encoder, tier1_only, wait_minutes)
    if (folder / "manifest.json").is_file():
        policy = load_tier1_policy(folder, encoder=encoder)
        cards = [c for c in load_cards(folder) if c.name in test.models]
    else:  # tier 1 saved, the manifest not yet: the same predictor, and the cards train_policy saves
        policy = Tier1Policy(Tier1Predictor.load(folder, encoder=encoder))
        cards = [c for c in replay_cards(train) if c.name in test.models]
    predictor = policy.predictor
    assert predictor is not None
    model_index = {m: j for j, m in enumerate(test.models)}
    predictor_index = {m: j for j, m in enumerate(predictor.models)}
    cards = [c for c in cards if c.name in predictor_index]

    groups, long_left_out = make_composites(test, n_composites, seed)
    texts = [composite_text([test.prompts[i] for i in g]) for g in groups]
    part_ids = sorted({i for g in groups for i in g})
    policy.prepare([test.prompts[i] for i in part_ids] + texts)
    train_prompts = set(train.prompts)
    repeats = [any(test.prompts[i] in train_prompts for i in g) for g in groups]

    def decision(prompt: str, knob: float) -> RoutingDecision:
        """What ``Tier1Router.route`` returns for this prompt (the fields the expected gain reads)."""
        quality, tokens = policy.predictions(prompt)
        selection = select_models(
            cards,
            [quality[predictor_index[c.name]] for c in cards],
            [tokens[predictor_index[c.name]] for c in cards],
            input_tokens=estimate_tokens(prompt),
            knob=knob,
        )
        return RoutingDecision(
            models=selection.ranked,
            router="tier1",
            reason="replay",
            scores=selection.quality,
            details={
                "quality_cost_tradeoff": knob,
                "expected_cost_usd": selection.expected_cost_usd,
                "predicted_quality": {c.name: float(quality[predictor_index[c.name]]) for c in cards},
                "predicted_output_tokens": {c.name: float(tokens[predictor_index[c.name]]) for c in cards},
            },
        )

    def choose(prompt: str, knob: float) -> int:
        return model_index[decision(prompt, knob).models[0]]

    def gain_splits(text: str, parts: list[str], knob: float) -> bool:
        """The graph's expected-gain verdict (``graph/gain.py``), with its merge estimate from predictions."""
        decisions = [decision(part, knob) for part in parts]
        merge = merge_cost_estimate(text, builder._MERGE_INSTRUCTIONS, decisions, cards)
        return expected_split_gain(decision(text, knob), decisions, merge_cost_usd=merge).split

    best = int(np.argmax(train.scores.mean(axis=0)))
    best_model = train.models[best]
    best_test = model_index[best_model]

    rule: list[dict[str, Any]] = []
    for text, g in zip(texts, groups, strict=True):
        multi = looks_multi_task(text)
        listed = listed_tasks(text)
        clauses = len(listed) if listed is not None else len(task_clauses(text))
        # A numbered task list under its header is split by its items, with no decomposer call.
        called = listed is None and multi and clauses <= MAX_SUBTASKS
        d_in, d_out = decomposer_call(text, [test.prompts[i] for i in g])
        truncated = called and d_out > DECOMPOSER_MAX_TOKENS
        by_list = listed is not None and clauses <= MAX_SUBTASKS
        rule.append(
            {
                "multi": multi,
                "listed": by_list,
                "clauses": clauses,
                "called": called,
                "truncated": truncated,
                "split": (by_list and clauses == len(g)) or (called and clauses == len(g) and not truncated),
                "decomposer_in": d_in,
                "decomposer_out": min(d_out, DECOMPOSER_MAX_TOKENS) if called else 0,
                "decomposer_out_ideal": d_out,
            }
        )

    knobs: dict[str, Any] = {path: {"correct": [], "all": [], "cost": []} for path in PATHS}
    for knob in KNOB_SETTINGS:
        rows: dict[str, tuple[list[float], list[float], list[float]]] = {p: ([], [], []) for p in PATHS}
        for text, g, r in zip(texts, groups, rule, strict=True):
            m = choose(text, knob)
            direct_scores = test.scores[g, m]
            direct_cost = float(test.costs[g, m].sum())
            chosen = [choose(test.prompts[i], knob) for i in g]
            part_scores = np.array([test.scores[i, j] for i, j in zip(g, chosen, strict=True)])
            part_cost = float(sum(test.costs[i, j] for i, j in zip(g, chosen, strict=True)))
            parts = [test.prompts[i] for i in g]
            merge_in, merge_out = merge_call(
                text, parts, [answer_tokens(test, i, j) for i, j in zip(g, chosen, strict=True)]
            )
            merge_cost = cheapest_cost(cards, merge_in, merge_out)
            ideal_decomposer = cheapest_cost(cards, r["decomposer_in"], r["decomposer_out_ideal"])
            built_decomposer = (
                cheapest_cost(cards, r["decomposer_in"], r["decomposer_out"]) if r["called"] else 0.0
            )
            splits = gain_splits(text, parts, knob)
            outcomes = {
                "direct": (direct_scores, direct_cost),
                "per-part": (part_scores, part_cost),
                "decomposed (ideal split)": (part_scores, part_cost + ideal_decomposer + merge_cost),
                "decomposed (as built)": (
                    (part_scores, part_cost + built_decomposer + merge_cost)
                    if r["split"]
                    else (direct_scores, direct_cost + built_decomposer)
                ),
                # The graph weighs the split first (the list's items, else the rule's clauses); a split it
                # declines costs no decomposer call.
                "as built + gain": (
                    (part_scores, part_cost + built_decomposer + merge_cost)
                    if r["split"] and splits
                    else (direct_scores, direct_cost + (built_decomposer if splits else 0.0))
                ),
            }
            for path, (scores, cost) in outcomes.items():
                rows[path][0].append(float(scores.sum()))
                rows[path][1].append(float(np.prod(scores)))
                rows[path][2].append(cost)
        for path in PATHS:
            knobs[path]["correct"].append(rows[path][0])
            knobs[path]["all"].append(rows[path][1])
            knobs[path]["cost"].append(rows[path][2])
    run: dict[str, Any] = {
        "format": _FORMAT,
        "table": name,
        "seed": seed,
        "policy_dir": str(folder),
        "policy_manifest": (folder / "manifest.json").is_file(),
        "quick_tier1": quick,
        "n_train": train.n_prompts,
        "n_test": test.n_prompts,
        "long_left_out": long_left_out,
        "sizes": [len(g) for g in groups],
        "repeats": repeats,
        "rule": rule,
        "knobs": list(KNOB_SETTINGS),
        "paths": knobs,
        "best_single": {
            "model": best_model,
            "correct": [float(test.scores[g, best_test].sum()) for g in groups],
            "all": [float(np.prod(test.scores[g, best_test])) for g in groups],
            "cost": [float(test.costs[g, best_test].sum()) for g in groups],
        },
        "cheapest_member": min(cards, key=lambda c: c.cost_usd(1000, 1000)).name,
        "total_s": round(time.perf_counter() - started, 1),
    }
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(run) + "\n", encoding="utf-8")
    return run


# --- figures ---------------------------------------------------------------------------------------------


def accuracy_at_cost(costs: np.ndarray, accs: np.ndarray, budget: float) -> float:
    """Highest frontier accuracy with mean cost <= ``budget`` (NaN when no point is that cheap)."""
    ok = costs <= budget * (1 + 1e-9)
    return float(accs[ok].max()) if ok.any() else float("nan")


def cost_to_reach(costs: np.ndarray, accs: np.ndarray, goal: float) -> float:
    """Lowest frontier cost with accuracy >= ``goal`` (NaN when never reached)."""
    ok = accs >= goal - 1e-12
    return float(costs[ok].min()) if ok.any() else float("nan")


def figures_of(run: dict[str, Any], index: np.ndarray) -> dict[str, np.ndarray]:
    """Per path and knob: per-part accuracy, all-parts accuracy and mean cost over the composites ``index``."""
    sizes = np.asarray(run["sizes"], dtype=float)[index]
    out: dict[str, np.ndarray] = {}
    for path in PATHS:
        data = run["paths"][path]
        correct = np.asarray(data["correct"])[:, index]
        out[f"{path}|part"] = correct.sum(axis=1) / sizes.sum()
        out[f"{path}|all"] = np.asarray(data["all"])[:, index].mean(axis=1)
        out[f"{path}|cost"] = np.asarray(data["cost"])[:, index].mean(axis=1)
    single = run["best_single"]
    out["best|part"] = np.array([np.asarray(single["correct"])[index].sum() / sizes.sum()])
    out["best|all"] = np.array([np.asarray(single["all"])[index].mean()])
    out["best|cost"] = np.array([np.asarray(single["cost"])[index].mean()])
    return out


def comparisons(f: dict[str, np.ndarray], path: str) -> dict[str, np.ndarray]:
    """Against each direct point (and the best single member): ``path``'s gains and cost ratios."""
    d_acc, d_cost = f["direct|part"], f["direct|cost"]
    p_acc, p_cost = f[f"{path}|part"], f[f"{path}|cost"]
    targets = [(a, c) for a, c in zip(d_acc, d_cost, strict=True)] + [(f["best|part"][0], f["best|cost"][0])]
    at_cost = np.array([accuracy_at_cost(p_cost, p_acc, c) - a for a, c in targets])
    ratio = np.array([cost_to_reach(p_cost, p_acc, a) / c if c > 0 else np.nan for a, c in targets])
    return {
        "same_knob_gain": p_acc - d_acc,
        "same_knob_ratio": p_cost / d_cost,
        "gain_at_direct_cost": at_cost,
        "cost_ratio_to_direct_accuracy": ratio,
    }


def summarize(runs: list[dict[str, Any]], subset: str) -> dict[str, Any]:
    """Seed-averaged figures with 95% bootstrap intervals (resampling composites within each seed)."""
    indexes = []
    for run in runs:
        n = len(run["sizes"])
        keep = np.arange(n) if subset == "all" else np.flatnonzero(~np.asarray(run["repeats"]))
        indexes.append(keep)

    def statistic(draws: list[np.ndarray]) -> dict[str, np.ndarray]:
        per_seed = []
        for run, index in zip(runs, draws, strict=True):
            f = figures_of(run, index)
            stats = dict(f)
            for path in PATHS[1:]:
                for key, value in comparisons(f, path).items():
                    stats[f"{path}|{key}"] = value
            per_seed.append(stats)
        return {key: np.mean([s[key] for s in per_seed], axis=0) for key in per_seed[0]}

    point = statistic(indexes)
    rng = np.random.default_rng(0)
    boots: dict[str, list[np.ndarray]] = {key: [] for key in point}
    for _ in range(BOOTSTRAP):
        draws = [index[rng.integers(0, len(index), size=len(index))] for index in indexes]
        stats = statistic(draws)
        for key, value in stats.items():
            boots[key].append(value)
    with np.errstate(all="ignore"):
        low = {k: np.nanpercentile(np.asarray(v), 2.5, axis=0) for k, v in boots.items()}
        high = {k: np.nanpercentile(np.asarray(v), 97.5, axis=0) for k, v in boots.items()}
    return {
        "n_composites": int(sum(len(i) for i in indexes)),
        "point": {k: _listed(v) for k, v in point.items()},
        "ci95_low": {k: _listed(v) for k, v in low.items()},
        "ci95_high": {k: _listed(v) for k, v in high.items()},
    }


def _listed(values: np.ndarray) -> list[float | None]:
    """JSON-safe: NaN (never reached) becomes null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def rule_figures(runs: list[dict[str, Any]]) -> dict[str, float]:
    rules = [r for run in runs for r in run["rule"]]
    sizes = [s for run in runs for s in run["sizes"]]
    return {
        "composites": len(rules),
        "rule_says_multi": float(np.mean([r["multi"] for r in rules])),
        "clauses_equal_parts": float(np.mean([r["clauses"] == s for r, s in zip(rules, sizes, strict=True)])),
        "clauses_fewer": float(np.mean([r["clauses"] < s for r, s in zip(rules, sizes, strict=True)])),
        "clauses_more": float(np.mean([r["clauses"] > s for r, s in zip(rules, sizes, strict=True)])),
        "split_by_list": float(np.mean([r.get("listed", False) for r in rules])),
        "decomposer_called": float(np.mean([r["called"] for r in rules])),
        "plan_over_token_limit": float(np.mean([r["truncated"] for r in rules])),
        "split_as_built": float(np.mean([r["split"] for r in rules])),
        "repeats": float(np.mean([x for run in runs for x in run["repeats"]])),
    }


def fmt(value: float, digits: int = 4, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "never"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def interval(summary: dict[str, Any], key: str, i: int, digits: int = 4, sign: bool = False) -> str:
    p, lo, hi = (summary[s][key][i] for s in ("point", "ci95_low", "ci95_high"))
    if p is None or not np.isfinite(p):
        return "never"
    return f"{fmt(p, digits, sign)} ({fmt(lo, digits, sign)} … {fmt(hi, digits, sign)})"


def met_knobs(summary: dict[str, Any], path: str, knobs: list[float]) -> list[str]:
    """Direct points (knobs) at which ``path`` meets the issue's target."""
    gain = [np.nan if g is None else g for g in summary["point"][f"{path}|gain_at_direct_cost"]]
    ratio = [np.nan if r is None else r for r in summary["point"][f"{path}|cost_ratio_to_direct_accuracy"]]
    labels = [f"{k:g}" for k in knobs] + ["best single"]
    return [
        label
        for label, g, r in zip(labels, gain, ratio, strict=True)
        if (np.isfinite(g) and g >= TARGET_GAIN - 1e-12) or (np.isfinite(r) and r <= TARGET_RATIO + 1e-12)
    ]


def table_markdown(name: str, runs: list[dict[str, Any]], summaries: dict[str, Any]) -> list[str]:
    knobs = runs[0]["knobs"]
    summary = summaries["all"]
    rule = rule_figures(runs)
    seeds = ", ".join(str(r["seed"]) for r in runs)
    lines = [
        f"## {name} (seeds {seeds}; {summary['n_composites']} composites)",
        "",
        f"Best single member (train split): `{runs[0]['best_single']['model']}` (seed {runs[0]['seed']}); "
        f"cheapest member (decomposer and merge): `{runs[0]['cheapest_member']}`. Parts over {MAX_PART_TOKENS} "
        f"estimated tokens left out: {sum(r['long_left_out'] for r in runs)} test prompts over all seeds. "
        "Policies: "
        + ", ".join(
            f"seed {r['seed']} `{Path(r['policy_dir']).name}`"
            + (
                " (reduced tier 1: one network, no out-of-fold blend choice)"
                if r.get("quick_tier1")
                else ("" if r.get("policy_manifest", True) else " (tier 1 saved, tier 2 unfinished)")
            )
            for r in runs
        )
        + ".",
        "",
        f"Rule on the composites: says several tasks {rule['rule_says_multi']:.1%}; task clauses = parts "
        f"{rule['clauses_equal_parts']:.1%} (fewer {rule['clauses_fewer']:.1%}, more {rule['clauses_more']:.1%}); "
        f"split by its numbered list (no decomposer call) {rule['split_by_list']:.1%}; "
        f"decomposer called {rule['decomposer_called']:.1%}; called with a true plan over its "
        f"{DECOMPOSER_MAX_TOKENS}-token limit {rule['plan_over_token_limit']:.1%}; split right as built "
        f"{rule['split_as_built']:.1%} (the rest answered whole). Composites with a part that repeats a training "
        f"prompt: {rule['repeats']:.1%}.",
        "",
        "Per knob (seed means): per-part accuracy / all-parts accuracy / mean $ per composite.",
        "",
        "| knob | direct | per-part (free split) | decomposed (ideal split) | decomposed (as built) "
        "| as built + expected-gain decision |",
        "|---:|---|---|---|---|---|",
    ]
    p = summary["point"]
    for i, knob in enumerate(knobs):
        cells = [
            f"{p[f'{path}|part'][i]:.4f} / {p[f'{path}|all'][i]:.4f} / {p[f'{path}|cost'][i]:.3g}"
            for path in PATHS
        ]
        lines.append(f"| {knob:g} | " + " | ".join(cells) + " |")
    lines.append(
        f"| best single | {p['best|part'][0]:.4f} / {p['best|all'][0]:.4f} / {p['best|cost'][0]:.3g} | | | | |"
    )
    lines += [
        "",
        "Against each direct point: decomposed per-part accuracy at the direct path's cost minus the direct "
        "accuracy (`Δacc @ direct cost`), and the decomposed frontier's cost to reach the direct accuracy as a "
        "ratio of the direct cost (`cost ratio`); 95% bootstrap intervals over composites. Last row: against "
        "the best single member.",
        "",
    ]
    for subset, s in summaries.items():
        lines += [
            f"### {name}: {subset} ({s['n_composites']} composites)",
            "",
            "| direct knob | direct acc | direct $ | ideal: Δacc @ direct cost | ideal: cost ratio "
            "| as built: Δacc @ direct cost | as built: cost ratio | + gain: Δacc @ direct cost "
            "| + gain: cost ratio | same knob Δacc (ideal) |",
            "|---:|---:|---:|---|---|---|---|---|---|---|",
        ]
        labels = [f"{k:g}" for k in knobs] + ["best single"]
        for i, label in enumerate(labels):
            direct_acc = s["point"]["direct|part"][i] if i < len(knobs) else s["point"]["best|part"][0]
            direct_cost = s["point"]["direct|cost"][i] if i < len(knobs) else s["point"]["best|cost"][0]
            same = (
                interval(s, "decomposed (ideal split)|same_knob_gain", i, sign=True) if i < len(knobs) else ""
            )
            lines.append(
                f"| {label} | {direct_acc:.4f} | {direct_cost:.3g} "
                f"| {interval(s, 'decomposed (ideal split)|gain_at_direct_cost', i, sign=True)} "
                f"| {interval(s, 'decomposed (ideal split)|cost_ratio_to_direct_accuracy', i, 3)} "
                f"| {interval(s, 'decomposed (as built)|gain_at_direct_cost', i, sign=True)} "
                f"| {interval(s, 'decomposed (as built)|cost_ratio_to_direct_accuracy', i, 3)} "
                f"| {interval(s, 'as built + gain|gain_at_direct_cost', i, sign=True)} "
                f"| {interval(s, 'as built + gain|cost_ratio_to_direct_accuracy', i, 3)} | {same} |"
            )
        lines += [
            "",
            f"Target (+{TARGET_GAIN * 100:.0f} points at the direct cost, or its accuracy at ≤ {TARGET_RATIO}× "
            f"its cost) met at direct points: ideal split "
            f"{', '.join(met_knobs(s, 'decomposed (ideal split)', knobs)) or 'none'}; as built "
            f"{', '.join(met_knobs(s, 'decomposed (as built)', knobs)) or 'none'}; as built + gain "
            f"{', '.join(met_knobs(s, 'as built + gain', knobs)) or 'none'}; per-part with a free split "
            f"{', '.join(met_knobs(s, 'per-part', knobs)) or 'none'}.",
            "",
        ]
    return lines


def markdown(results: dict[str, Any], runs_by_table: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "# Decomposition replay benchmark (composites of recorded prompts: one member vs routing each part)",
        "",
        "Regenerate with `python benchmarks/decomposition_replay.py` (see its docstring for the paths and the",
        "cost model). Composites: 2–4 test-split prompts joined as a numbered list under "
        f'"{HEADER}"; every answer and cost is a recorded row. `direct`: tier 1 routes the whole composite to one',
        "member, which answers every part (its recorded rows). `per-part`: tier 1 routes each part, split for free,",
        "no merge. `decomposed (ideal split)`: per-part plus a decomposer call and a merge call. `decomposed (as",
        "built)`: the package's rule and constrained decomposer decide; a composite they do not split right is",
        "answered whole (direct) plus the decomposer's cost where it was called.",
        "",
        "Assumptions: no live decomposer was run; the decomposer and the merge are each one call to the table's",
        "cheapest member at its card price (fitted to the recorded costs). Decomposer tokens: the graph's",
        "decomposer prompt (instructions, composite, the rule's draft plan) in, the JSON plan of the true parts out",
        f"(over {DECOMPOSER_MAX_TOKENS} tokens the graph's plan is cut and refused: answered whole). Merge tokens: "
        "the graph's merge prompt",
        "with every part's recorded answer (its `response` by `estimate_tokens`, else its `output_tokens`) in, the",
        "answers out; the merge keeps every part's answer (the graph's `part_survives` check and sectioned",
        "fallback). The direct path's cost is the sum of its member's recorded part costs (one call per part; the",
        "shared header is not billed). A part's score is its row's `score`; all-parts = product of the parts'",
        "scores. The same knob for every call of a composite. Intervals: 95% bootstrap over composites,",
        "resampled within each seed, the figure averaged over seeds.",
        "",
    ]
    for name, runs in runs_by_table.items():
        lines += table_markdown(name, runs, results[name]["summaries"])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--composites", type=int, default=COMPOSITES)
    parser.add_argument("--data-dir", type=Path, default=default_shared_dir() / "data")
    parser.add_argument(
        "--tier1-only",
        action="store_true",
        help="Where no policy is cached, train a tier-1-only one (policy-tier1) instead of the full one.",
    )
    parser.add_argument("--fresh", action="store_true", help="Redo cached runs.")
    parser.add_argument(
        "--quick-tier1",
        nargs="*",
        default=[],
        metavar="TABLE",
        help="Tables on which a reduced tier 1 is fitted here (one network, no out-of-fold blend choice) instead "
        "of the trained policy: for when the default training does not fit the time (the results say so).",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="Report the cached runs only; skip (table, seed) not yet run.",
    )
    parser.add_argument(
        "--wait-minutes",
        type=float,
        default=10.0,
        help="How long to wait for a policy another process is training before training a tier-1-only one.",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    runs_by_table: dict[str, list[dict[str, Any]]] = {}
    results: dict[str, Any] = {}
    for name in args.tables:
        table = OutcomeTable(load_table(name, args.data_dir))
        runs = []
        for seed in args.seeds:
            print(f"{name} seed {seed} ...", flush=True)
            runs.append(
                run_one(
                    table,
                    name,
                    seed,
                    args.composites,
                    encoder,
                    args.tier1_only,
                    args.fresh,
                    args.wait_minutes,
                    name in args.quick_tier1,
                    args.cached_only,
                )
            )
        runs = [r for r in runs if r is not None]
        if not runs:
            continue
        runs_by_table[name] = runs
        results[name] = {
            "seeds": [r["seed"] for r in runs],
            "knobs": runs[0]["knobs"],
            "rule": rule_figures(runs),
            "best_single_models": [r["best_single"]["model"] for r in runs],
            "policies": [r["policy_dir"] for r in runs],
            "summaries": {
                "all": summarize(runs, "all"),
                "without repeats": summarize(runs, "without repeats"),
            },
        }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "decomposition_replay.json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    text = markdown(results, runs_by_table)
    (RESULTS_DIR / "decomposition_replay.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
