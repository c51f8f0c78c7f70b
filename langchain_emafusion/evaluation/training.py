"""Train the project's own policy on an outcome table, save it to a folder, load it back for replay.

The project's policy is the tier-1 predictor with its budget-aware selector, and tier 2's fusion on top. Tier 1's
quality predictor is chosen on the training table alone: the network, per-model ridge, k nearest prompts and
prompt clusters are scored out of fold and the best blend kept (:mod:`~langchain_emafusion.tier1.router_choice`;
the manifest's ``router`` says what was chosen and its out-of-fold figures).
A policy folder holds:

- ``manifest.json``: what was trained, with which seed and encoder, on which table (sha256, counts, models);
- ``tier1.json`` and ``tier1.safetensors``: the predictor (the same folder works as
  ``FusionChatModel(router=FOLDER)``);
- ``train_outcomes.jsonl``: a copy of the training table, so that ``emafusion eval --baselines`` refits every
  baseline on exactly the same data (its sha256 is checked on load).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_emafusion.evaluation.cards import cards_from_json, cards_to_json, replay_cards
from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.evaluation.protocol import ReplayPolicy
from langchain_emafusion.evaluation.table import OutcomeTable, read_outcomes, write_outcomes
from langchain_emafusion.fusion.model import TIER2_FILE
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.routing.base import PREDICTOR_CONFIG_FILE
from langchain_emafusion.routing.encoder import PromptEncoder
from langchain_emafusion.routing.targets import MANIFEST_FILE, curve_to_json
from langchain_emafusion.tier1.calibration import sweep_predictions
from langchain_emafusion.tier1.features import FeatureConfig, PromptFeaturizer
from langchain_emafusion.tier1.policy import Tier1Policy
from langchain_emafusion.tier1.predictor import Tier1Predictor, TrainingConfig
from langchain_emafusion.tier1.router_choice import RouterChoice, choose_router
from langchain_emafusion.tier1.selector import KNOB_SETTINGS

if TYPE_CHECKING:
    from langchain_emafusion.fusion.training import OutOfFold

__all__ = [
    "POLICY_NAME",
    "MANIFEST_FILE",
    "TRAIN_TABLE_FILE",
    "ROUTER_FILE",
    "file_sha256",
    "train_policy",
    "load_policy",
    "load_tier1_policy",
    "load_training_table",
    "load_cards",
]

POLICY_NAME = "emafusion"
TIER1_POLICY_NAME = "tier1"
"""The name under which the trained policy is reported."""

TRAIN_TABLE_FILE = "train_outcomes.jsonl"
ROUTER_FILE = PREDICTOR_CONFIG_FILE
_FORMAT = "emafusion-policy"
_FORMAT_VERSION = 2


def file_sha256(path: str | Path) -> str:
    """Return a file's sha256 hex digest."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train_policy(
    outcomes: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    encoder: PromptEncoder | None = None,
    progress: bool = False,
    features: FeatureConfig | None = None,
    training: TrainingConfig | None = None,
    tier2: bool = True,
) -> dict[str, Any]:
    """Train the project's policy on a training table and save it (with the table) to ``out_dir``.

    Args:
        outcomes: The training outcome table (JSONL).
        out_dir: Destination folder (created; existing policy files are overwritten).
        seed: Seed of the fit.
        encoder: Prompt encoder (default: the process-wide one).
        progress: Show progress bars.
        features: Prompt-feature settings (default: :class:`FeatureConfig`).
        training: Predictor hyper-parameters (default: :class:`TrainingConfig`; ``seed`` overrides its seed).
        tier2: Also train tier 2 (the answer judge and the strategy table, saved as ``tier2.json``); without
            it the policy is tier 1 alone.

    Returns:
        The manifest that was written.
    """
    source = Path(outcomes)
    table = read_outcomes(source)
    destination = Path(out_dir)
    destination.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(training or TrainingConfig(), seed=seed)
    featurizer = PromptFeaturizer(features, encoder=encoder)
    started = time.perf_counter()
    predictor = Tier1Predictor.fit(table, training=config, featurizer=featurizer, show_progress=progress)
    cards = replay_cards(table)
    choice, out_of_fold = _choose_router(table, predictor, featurizer, config, cards, progress=progress)
    predictor.use_blend(choice.blend)
    tier1_s = time.perf_counter() - started
    predictor.save(destination)
    (destination / TIER2_FILE).unlink(missing_ok=True)
    tier2_info: dict[str, Any] | None = None
    if tier2:
        from langchain_emafusion.fusion.training import fit_tier2

        started = time.perf_counter()
        model = fit_tier2(
            table, featurizer=featurizer, training=config, out_of_fold=out_of_fold, progress=progress
        )
        model.info["train_s"] = round(time.perf_counter() - started, 2)
        model.save(destination)
        tier2_info = {"file": TIER2_FILE, "strategies": model.strategies, "info": model.info}
    router = Tier1Policy(predictor)
    calibration = _calibration(table, out_of_fold, cards, tier2_info)
    table_copy = destination / TRAIN_TABLE_FILE
    if source.suffix == ".gz":
        write_outcomes(table, table_copy)  # the saved copy is plain JSONL, as its name says
    elif source.resolve() != table_copy.resolve():
        shutil.copyfile(source, table_copy)
    manifest: dict[str, Any] = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "name": POLICY_NAME,
        "policy": "tier1+tier2" if tier2 else Tier1Policy.name,
        "tier2": tier2_info,
        "knob": "quality_cost_tradeoff (predicted quality - knob * expected cost / the priciest candidate's)",
        "settings": router.settings(),
        "seed": seed,
        "encoder": predictor.featurizer.encoder.model_id,
        "router_file": ROUTER_FILE,
        "router": choice.report,
        "training_info": predictor.info,
        "train_s": {
            "tier1": round(tier1_s, 2),
            "tier2": None if tier2_info is None else tier2_info["info"]["train_s"],
        },
        "calibration": calibration,
        "cards": cards_to_json(cards),
        "train_table": {
            "file": TRAIN_TABLE_FILE,
            "source": str(source.resolve()),
            "sha256": file_sha256(table_copy),
            "n_prompts": table.n_prompts,
            "n_rows": len(table.rows),
            "models": table.models,
        },
    }
    (destination / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _choose_router(
    table: OutcomeTable,
    predictor: Tier1Predictor,
    featurizer: PromptFeaturizer,
    training: TrainingConfig,
    cards: Sequence[ModelCard],
    *,
    progress: bool,
) -> tuple[RouterChoice, OutOfFold]:
    """Choose tier 1's router blend out of fold; return it and the out-of-fold predictions tier 2 learns from.

    The network's out-of-fold predictions are the ones tier 2 needs anyway (same folds, same fold networks);
    tier 2 then trains on the chosen blend's out-of-fold predictions, as it will see the served blend's.
    """
    from langchain_emafusion.fusion.training import tier1_out_of_fold

    network = tier1_out_of_fold(table, featurizer=featurizer, training=training, progress=progress)
    features = featurizer.transform(list(table.prompts))
    choice = choose_router(
        table,
        features=features,
        keys=predictor.similarity_keys(features),
        allow_knn=predictor.memory_keys is not None,
        network_quality=network.quality,
        network_tokens=network.output_tokens,
        folds=network.fold,
        cards=cards,
        seed=training.seed,
    )
    return choice, dataclasses.replace(network, quality=choice.out_of_fold_quality)


def _calibration(
    table: OutcomeTable, out_of_fold: OutOfFold, cards: Sequence[ModelCard], tier2_info: dict[str, Any] | None
) -> dict[str, Any]:
    """The served system's out-of-fold knob curve, read by ``FusionChatModel(target_accuracy=...)``.

    With tier 2 it is the strategy replay's (each prompt routed by fold predictors and judged by a fold judge,
    with the strategy the table chose for its task and knob); without, tier 1's choice from the out-of-fold
    predictions on every training prompt.
    """
    if tier2_info is not None:
        info = tier2_info["info"]
        return {
            "source": f"out-of-fold replay of {info['strategy_prompts']} training prompts (tier 1 and tier 2)",
            "n_prompts": info["strategy_prompts"],
            "curve": info["out_of_fold_curve"],
        }
    curve = sweep_predictions(
        out_of_fold.quality, out_of_fold.output_tokens, table.models, table, cards, knobs=KNOB_SETTINGS
    )
    return {
        "source": f"out-of-fold tier-1 choice on {table.n_prompts} training prompts",
        "n_prompts": table.n_prompts,
        "curve": curve_to_json(curve),
    }


def _read_manifest(policy_dir: Path) -> dict[str, Any]:
    manifest_path = policy_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} not found: train a policy first (emafusion train --out DIR)"
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT or manifest.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{manifest_path} is not an emafusion policy manifest (format {_FORMAT} v{_FORMAT_VERSION})"
        )
    return manifest


def load_policy(
    policy_dir: str | Path, *, encoder: PromptEncoder | None = None, progress: bool = False
) -> tuple[ReplayPolicy, dict[str, Any]]:
    """Load a trained policy, named ``"emafusion"``: tier 1 + tier 2 (tier 1 alone if trained without tier 2).

    Args:
        policy_dir: A folder written by :func:`train_policy`.
        encoder: Prompt encoder (default: the process-wide one).
        progress: Show progress bars.

    Returns:
        The policy, ready to replay, and its manifest.
    """
    folder = Path(policy_dir)
    manifest = _read_manifest(folder)
    tier1 = Tier1Policy(Tier1Predictor.load(folder, encoder=encoder), progress=progress)
    policy: ReplayPolicy
    if (folder / TIER2_FILE).is_file():
        from langchain_emafusion.fusion.model import Tier2Model
        from langchain_emafusion.fusion.policy import FusionPolicy

        policy = FusionPolicy(tier1, Tier2Model.load(folder))
    else:
        policy = tier1
    policy.name = POLICY_NAME
    return policy, manifest


def load_tier1_policy(
    policy_dir: str | Path, *, encoder: PromptEncoder | None = None, progress: bool = False
) -> Tier1Policy:
    """Load the tier-1 part of a trained policy alone, named ``"tier1"`` (the routing-only comparison)."""
    folder = Path(policy_dir)
    _read_manifest(folder)
    policy = Tier1Policy(Tier1Predictor.load(folder, encoder=encoder), progress=progress)
    policy.name = TIER1_POLICY_NAME
    return policy


def load_training_table(policy_dir: str | Path) -> OutcomeTable:
    """Load the training table saved with a policy, checking its sha256 against the manifest.

    Raises:
        OutcomeTableError: The saved table was modified after training.
    """
    folder = Path(policy_dir)
    manifest = _read_manifest(folder)
    table_path = folder / manifest["train_table"]["file"]
    if file_sha256(table_path) != manifest["train_table"]["sha256"]:
        raise OutcomeTableError(
            "training table changed since the policy was trained (sha256 mismatch)", path=table_path
        )
    return read_outcomes(table_path)


def load_cards(policy_dir: str | Path) -> tuple[ModelCard, ...]:
    """Return the replay cards (static model facts) saved with a policy."""
    return cards_from_json(_read_manifest(Path(policy_dir))["cards"])
