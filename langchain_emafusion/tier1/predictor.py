"""The tier-1 predictor: per-model probability of a good answer, expected output tokens and task type.

A shared trunk maps prompt features to a hidden vector ``h``; each model ``m`` has a learned vector ``v_m`` and
bias ``b_m`` and its quality logit is ``h · v_m + b_m`` (models share structure through the trunk, as in
EmbedLLM / GraphRouter / MixLLM, and a new model only needs its own vector: see :meth:`Tier1Predictor.onboard`).
A second per-model head predicts ``log(1 + output tokens)``; a taxonomy head predicts the task label where the
training table has one (predicted, never read from a test row).

The network's probability is blended with a **neighbour term**: the mean recorded score of the ``k`` training
prompts nearest in sentence-embedding space. ``k`` and the blend weight are chosen on the ensemble members'
validation splits (the weight may be 0), so the blend is learned, not hand-set: a network smooths over the whole
table, neighbours keep local detail it blurs, and on small tables (a thousand prompts) each wins on different
prompts. A predictor trained by ``emafusion train`` may also carry a :class:`~.blend.RouterBlend` (the network
mixed with per-model ridge, kNN and prompt-cluster predictions, weights chosen out of fold), applied before the
memory of repeated prompts.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.pool.card import UNKNOWN_OUTPUT_TOKENS
from langchain_emafusion.routing.base import PREDICTOR_CONFIG_FILE
from langchain_emafusion.routing.encoder import PromptEncoder
from langchain_emafusion.tier1.blend import RouterBlend, neighbour_scores, unit_keys
from langchain_emafusion.tier1.features import FeatureConfig, PromptFeaturizer

__all__ = ["Tier1Predictor", "Predictions", "TrainingConfig", "PredictorFileError", "QualityNet"]

CONFIG_FILE = PREDICTOR_CONFIG_FILE
WEIGHTS_FILE = "tier1.safetensors"
FORMAT_VERSION = 1


class PredictorFileError(EmaFusionError, ValueError):
    """A saved predictor folder is missing, incomplete or corrupted; the message says which file and why."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :meth:`Tier1Predictor.fit`."""

    hidden: int = 256
    model_dim: int = 64
    dropout: float = 0.2
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 12
    validation_fraction: float = 0.1
    token_loss_weight: float = 0.1
    task_loss_weight: float = 0.2
    n_members: int = 5
    """Networks in the bagged ensemble (each with its own seed and validation split); predictions are averaged."""
    memory_similarity: float = 0.97
    """Cosine similarity above which a prompt counts as a repeat of a training prompt (see ``memory_weight``)."""
    memory_weight: float = 0.5
    """Weight of a repeated training prompt's recorded scores in the prediction (0 disables the memory)."""
    neighbour_counts: tuple[int, ...] = (10, 30, 100)
    """Neighbourhood sizes tried for the neighbour term (see the module docstring)."""
    neighbour_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    """Blend weights tried for the neighbour term; the validation loss picks one (``(0.0,)`` disables it)."""
    seed: int = 0

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; keep the config hashable and comparable.
        object.__setattr__(self, "neighbour_counts", tuple(int(k) for k in self.neighbour_counts))
        object.__setattr__(self, "neighbour_weights", tuple(float(w) for w in self.neighbour_weights))
        if not self.neighbour_counts or min(self.neighbour_counts) < 1:
            raise ValueError(f"neighbour_counts must be positive integers, got {self.neighbour_counts}")
        if not self.neighbour_weights or not all(0.0 <= w <= 1.0 for w in self.neighbour_weights):
            raise ValueError(f"neighbour_weights must lie in [0, 1], got {self.neighbour_weights}")

    @property
    def keeps_training_prompts(self) -> bool:
        """Whether the predictor keeps the training prompts' keys and scores (memory or neighbour term)."""
        return self.memory_weight > 0 or max(self.neighbour_weights) > 0


@dataclass
class Predictions:
    """Predictions for a batch of prompts (rows) and the predictor's models (columns)."""

    models: list[str]
    quality: np.ndarray
    """(n, n_models) probability of a good answer."""
    output_tokens: np.ndarray
    """(n, n_models) expected output tokens."""
    task_labels: list[str] = field(default_factory=list)
    task_probs: np.ndarray | None = None
    """(n, n_tasks) predicted task distribution, when the training table had task labels."""

    def task(self, index: int) -> str | None:
        """Most likely task label of prompt ``index`` (None without a taxonomy head)."""
        if self.task_probs is None or not self.task_labels:
            return None
        return self.task_labels[int(np.argmax(self.task_probs[index]))]


class QualityNet(nn.Module):
    """Shared trunk, one vector per model for quality and for output length, and a task head."""

    def __init__(
        self, n_features: int, n_models: int, n_tasks: int, hidden: int, model_dim: int, dropout: float
    ):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Dropout(dropout / 2),
            nn.Linear(n_features, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, model_dim),
            nn.GELU(),
        )
        self.quality_vectors = nn.Parameter(torch.randn(n_models, model_dim) * 0.05)
        self.quality_bias = nn.Parameter(torch.zeros(n_models))
        self.token_vectors = nn.Parameter(torch.zeros(n_models, model_dim))
        self.token_bias = nn.Parameter(torch.zeros(n_models))
        self.task_head = nn.Linear(model_dim, max(n_tasks, 1))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return quality logits (n, m), log(1 + output tokens) (n, m) and task logits (n, t)."""
        hidden = self.trunk(features)
        quality = hidden @ self.quality_vectors.T + self.quality_bias
        tokens = hidden @ self.token_vectors.T + self.token_bias
        return quality, tokens, self.task_head(hidden)


class EnsembleNet(nn.Module):
    """Average of several :class:`QualityNet` members (bagging lowers the variance of small-data fits)."""

    def __init__(self, members: Sequence[QualityNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean of the members' quality logits, log-token predictions and task logits."""
        outputs = [member(features) for member in self.members]
        return tuple(torch.stack(parts).mean(dim=0) for parts in zip(*outputs, strict=True))  # type: ignore[return-value]

    def quality_nets(self) -> list[QualityNet]:
        """The members."""
        return [member for member in self.members if isinstance(member, QualityNet)]


def _build(n_features: int, n_models: int, n_tasks: int, cfg: TrainingConfig) -> EnsembleNet:
    return EnsembleNet(
        [
            QualityNet(n_features, n_models, n_tasks, cfg.hidden, cfg.model_dim, cfg.dropout)
            for _ in range(cfg.n_members)
        ]
    )


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Tier1Predictor:
    """Predict, for any prompt and without calling anything, how well each pool model will answer it.

    Example:
        .. code-block:: python

            from langchain_emafusion.evaluation import read_outcomes
            from langchain_emafusion.tier1 import Tier1Predictor

            predictor = Tier1Predictor.fit(read_outcomes("train.jsonl"))
            predictor.save("predictor/")
            predictions = Tier1Predictor.load("predictor/").predict(["What is 17 * 23?"])
            predictions.quality  # (1, n_models) probabilities
    """

    def __init__(
        self,
        net: EnsembleNet,
        *,
        models: Sequence[str],
        task_labels: Sequence[str],
        featurizer: PromptFeaturizer,
        training: TrainingConfig,
        default_output_tokens: Sequence[float] | np.ndarray,
        info: dict[str, Any] | None = None,
        memory_keys: np.ndarray | None = None,
        memory_scores: np.ndarray | None = None,
        neighbours: int = 0,
        neighbour_weight: float = 0.0,
        blend: RouterBlend | None = None,
    ) -> None:
        """Wrap a trained network (use :meth:`fit` or :meth:`load` rather than calling this directly).

        ``memory_keys`` (n, d) and ``memory_scores`` (n, n_models, NaN where unknown) are the training prompts'
        similarity keys and recorded scores: every prediction blends in the mean score of its ``neighbours``
        nearest training prompts with weight ``neighbour_weight``, and a prompt that repeats one of them gets its
        recorded outcome blended in as well. ``blend`` (chosen out of fold by ``emafusion train``, see
        :mod:`~langchain_emafusion.tier1.router_choice`) mixes the network's probabilities with simpler
        families' before the repeat memory.
        """
        self.net = net.eval()
        self.models = list(models)
        self.task_labels = list(task_labels)
        self.featurizer = featurizer
        self.training = training
        self.default_output_tokens = np.asarray(default_output_tokens, dtype=np.float64)
        self.info = dict(info or {})
        self.memory_keys = memory_keys
        self.memory_scores = memory_scores
        self.neighbours = int(neighbours)
        self.neighbour_weight = float(neighbour_weight)
        self.blend: RouterBlend | None = None
        self._serve_blend(blend)

    # --- training ---------------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        table: Any,
        *,
        training: TrainingConfig | None = None,
        features: FeatureConfig | None = None,
        featurizer: PromptFeaturizer | None = None,
        show_progress: bool = False,
    ) -> Tier1Predictor:
        """Train on an outcome table (an ``OutcomeTable``: prompts × models scores, tokens and task labels).

        Deterministic for a given seed on a given device; early-stops on a held-out share of the prompts;
        trains on CUDA when one is present.
        """
        cfg = training or TrainingConfig()
        featurizer = featurizer or PromptFeaturizer(features)
        started = time.perf_counter()
        x = featurizer.transform(list(table.prompts), show_progress=show_progress)
        encode_s = time.perf_counter() - started
        scores = np.asarray(table.scores, dtype=np.float32)
        tokens, token_mask = _output_tokens(table)
        labels = sorted({t for t in table.tasks if t is not None})
        task_index = {label: i for i, label in enumerate(labels)}
        tasks = np.array(
            [task_index.get(t, -1) if t is not None else -1 for t in table.tasks], dtype=np.int64
        )
        default_tokens = _default_tokens(tokens, token_mask)

        device = _device()
        arrays = (x, scores, np.log1p(tokens).astype(np.float32), token_mask.astype(np.float32), tasks)
        tensors = [torch.tensor(a, device=device) for a in arrays]
        members, runs = [], []
        for member_index in range(cfg.n_members):
            net, run = _train_member(
                tensors, cfg, cfg.seed + member_index, len(labels), default_tokens, device
            )
            members.append(net)
            runs.append(run)
        n = len(x)
        keys = _memory_keys(x, featurizer) if cfg.keeps_training_prompts else None
        neighbours, neighbour_weight, neighbour_losses = (
            _choose_neighbour_term(members, x, scores, keys, cfg) if keys is not None else (0, 0.0, {})
        )
        info = {
            "n_prompts": n,
            "members": runs,
            "neighbour_validation_bce": neighbour_losses,
            "encode_s": round(encode_s, 3),
            "train_s": round(time.perf_counter() - started - encode_s, 3),
            "device": str(device),
        }
        return cls(
            EnsembleNet(members),
            models=list(table.models),
            task_labels=labels,
            featurizer=featurizer,
            training=cfg,
            default_output_tokens=default_tokens,
            info=info,
            memory_keys=keys,
            memory_scores=scores.astype(np.float32) if keys is not None else None,
            neighbours=neighbours,
            neighbour_weight=neighbour_weight,
        )

    # --- inference ----------------------------------------------------------------------------------------------
    def predict_features(self, features: np.ndarray) -> Predictions:
        """Predictions from precomputed feature vectors (n, dimension)."""
        with torch.inference_mode():
            quality, tokens, task = self.net(
                torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
            )
        return Predictions(
            models=list(self.models),
            quality=self._recall(features, torch.sigmoid(quality).numpy().astype(np.float64)),
            output_tokens=np.expm1(tokens.numpy().astype(np.float64)).clip(min=1.0),
            task_labels=list(self.task_labels),
            task_probs=torch.softmax(task, dim=-1).numpy() if self.task_labels else None,
        )

    def _recall(self, features: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """Blend in the neighbour term and the router blend, then the recorded scores of a repeated prompt."""
        if (self.memory_keys is None and self.blend is None) or not len(features):
            return quality
        # In row blocks: a (prompts × training prompts) similarity matrix of a large batch would not fit.
        return np.concatenate(
            [
                self._recall_block(features[start : start + _BLOCK], quality[start : start + _BLOCK])
                for start in range(0, len(features), _BLOCK)
            ]
        )

    def _recall_block(self, features: np.ndarray, quality: np.ndarray) -> np.ndarray:
        keys = _memory_keys(features, self.featurizer)
        similarity = None
        if self.memory_keys is not None and self.memory_scores is not None:
            similarity = keys @ self.memory_keys.T
        if (
            similarity is not None
            and self.memory_scores is not None
            and self.neighbour_weight > 0 < self.neighbours
        ):
            neighbour = neighbour_scores(similarity, self.memory_scores, self.neighbours)
            blended = (1 - self.neighbour_weight) * quality + self.neighbour_weight * neighbour
            # Onboarded models have no recorded scores (NaN): their prediction stays the network's.
            quality = np.where(np.isnan(neighbour), quality, blended)
        if self.blend is not None:
            quality = self.blend.combine(quality, features, keys, similarity, self.memory_scores)
        if similarity is None or self.memory_scores is None or self.training.memory_weight <= 0:
            return quality
        nearest = similarity.argmax(axis=1)
        hits = np.flatnonzero(
            similarity[np.arange(len(features)), nearest] >= self.training.memory_similarity
        )
        if hits.size:
            recorded = self.memory_scores[nearest[hits]].astype(np.float64)
            weight = self.training.memory_weight
            blended = (1 - weight) * quality[hits] + weight * recorded
            # Onboarded models have no recorded scores (NaN): their prediction stays as it is.
            quality[hits] = np.where(np.isnan(recorded), quality[hits], blended)
        return quality

    def similarity_keys(self, features: np.ndarray) -> np.ndarray:
        """Unit-length similarity keys of feature vectors (the memory's and the clusters' space)."""
        return _memory_keys(features, self.featurizer)

    def use_blend(self, blend: RouterBlend | None) -> None:
        """Serve this router blend from now on (None: the network alone); its models must be the predictor's."""
        if blend is not None and blend.n_models != len(self.models):
            raise ValueError(f"the blend has {blend.n_models} models, the predictor {len(self.models)}")
        self._serve_blend(blend)

    def _serve_blend(self, blend: RouterBlend | None) -> None:
        # A loaded predictor may have onboarded models past the blend's: their columns stay the network's.
        if (
            blend is not None
            and blend.needs_memory
            and (self.memory_keys is None or self.memory_scores is None)
        ):
            raise ValueError("the blend weights the kNN family, which needs the training prompts' memory")
        self.blend = None if blend is None or blend.is_network_only else blend

    def predict(self, prompts: Sequence[str]) -> Predictions:
        """Predictions for prompts (batched; CPU)."""
        return self.predict_features(self.featurizer.transform(list(prompts)))

    # --- onboarding ---------------------------------------------------------------------------------------------
    def onboard(
        self,
        model: str,
        prompts: Sequence[str],
        scores: Sequence[float],
        output_tokens: Sequence[int | None] | None = None,
        *,
        l2: float | None = None,
        steps: int = 300,
        pessimism: float = 1.0,
    ) -> None:
        """Add a new model from a few of its outcomes (probe prompts and scores), fitting only its own vectors.

        The trunk and every other model's vectors stay unchanged, so existing routing is unaffected. The new
        vector is pulled toward the known members' mean vector and bias, with a strength chosen by 5-fold
        cross-validation on the probes themselves (log-loss, from ``ONBOARDING_L2_GRID``): a newcomer whose probes
        show a skill the pool lacks gets a weak pull, one whose probes look like noise around the mean a strong one
        (with leave-one-model-out on llmrouter a fixed weak pull sent prompts to newcomers on noise, a fixed strong
        one could not learn GSM8K's newcomer). Its bias is then held back by ``pessimism`` standard errors of the
        probes' mean: overrating a newcomer takes prompts from members known to do them, underrating it only
        leaves it unused, so the error costs are not symmetric (``benchmarks/onboarding.py`` measures the choice).

        Args:
            model: The new model's name (must not exist yet).
            prompts: Probe prompts.
            scores: The new model's score on each probe, in [0, 1].
            output_tokens: Its output token counts (optional).
            l2: Strength of the pull toward the mean member (a ridge on the summed log-loss of the probes);
                None (the default): chosen per quality network by cross-validation on the probes.
            steps: Optimizer steps.
            pessimism: Standard errors of the probes' mean taken off the new bias (logit scale); 0: none.
        """
        if not pessimism >= 0:
            raise ValueError(f"pessimism must be >= 0, got {pessimism!r}")
        if l2 is not None and not l2 >= 0:
            raise ValueError(f"l2 must be >= 0 or None, got {l2!r}")
        if model in self.models:
            raise ValueError(f"model {model!r} is already in the predictor")
        if len(prompts) != len(scores) or not prompts:
            raise ValueError("onboarding needs one score per probe prompt, and at least one probe")
        y = torch.tensor(np.asarray(scores, dtype=np.float32))
        if not bool(((y >= 0) & (y <= 1)).all()):
            raise ValueError("probe scores must lie in [0, 1]")
        features = torch.from_numpy(self.featurizer.transform(list(prompts)))
        known_tokens = [t for t in (output_tokens or []) if t is not None]
        default_tokens = (
            float(np.mean(known_tokens)) if known_tokens else float(np.mean(self.default_output_tokens))
        )
        for net in self.net.quality_nets():
            _onboard_member(
                net,
                features,
                y,
                l2=l2,
                steps=steps,
                mean_tokens=default_tokens if known_tokens else None,
                pessimism=pessimism,
            )
        if self.memory_scores is not None:
            unknown = np.full((len(self.memory_scores), 1), np.nan, dtype=np.float32)
            self.memory_scores = np.concatenate([self.memory_scores, unknown], axis=1)
        self.models.append(model)
        self.default_output_tokens = np.append(self.default_output_tokens, default_tokens)
        self.info.setdefault("onboarded", []).append({"model": model, "probes": len(prompts)})

    def without_model(self, model: str) -> Tier1Predictor:
        """A copy of this predictor with one model's vectors removed (for onboarding experiments)."""
        index = self.models.index(model)
        keep = [i for i in range(len(self.models)) if i != index]
        state = {k: v.clone() for k, v in self.net.state_dict().items()}
        for name in list(state):
            if name.rsplit(".", 1)[-1] in _PER_MODEL_PARAMETERS:
                state[name] = state[name][keep]
        net = _build(self.featurizer.dimension, len(keep), len(self.task_labels), self.training)
        net.load_state_dict(state)
        return Tier1Predictor(
            net,
            models=[self.models[i] for i in keep],
            task_labels=self.task_labels,
            featurizer=self.featurizer,
            training=self.training,
            default_output_tokens=self.default_output_tokens[keep],
            memory_keys=self.memory_keys,
            memory_scores=None if self.memory_scores is None else self.memory_scores[:, keep],
            neighbours=self.neighbours,
            neighbour_weight=self.neighbour_weight,
            info=dict(self.info),
            blend=None if self.blend is None else self.blend.without(index),
        )

    # --- persistence ---------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``tier1.safetensors`` (weights) and ``tier1.json`` (everything else) into ``directory``."""
        from safetensors.torch import save_file

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self.net.state_dict().items()}
        if self.memory_keys is not None and self.memory_scores is not None:
            # float16 halves the file; cosine similarities stay accurate to ~1e-3.
            tensors[_MEMORY_KEYS] = torch.from_numpy(self.memory_keys.astype(np.float16))
            tensors[_MEMORY_SCORES] = torch.from_numpy(self.memory_scores.astype(np.float32))
        if self.blend is not None:
            for name, array in self.blend.tensors(_BLEND_PREFIX).items():
                tensors[name] = torch.from_numpy(np.ascontiguousarray(array))
        save_file(tensors, str(folder / WEIGHTS_FILE))
        config = {
            "format_version": FORMAT_VERSION,
            "models": self.models,
            "task_labels": self.task_labels,
            "features": self.featurizer.config.to_dict(),
            "training": self.training.__dict__,
            "default_output_tokens": self.default_output_tokens.tolist(),
            "neighbours": {"k": self.neighbours, "weight": self.neighbour_weight},
            "blend": None if self.blend is None else self.blend.config(),
            "info": self.info,
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, directory: str | Path, *, encoder: PromptEncoder | None = None) -> Tier1Predictor:
        """Load a predictor saved by :meth:`save` (``encoder``: the sentence encoder to use, default shared).

        Raises:
            PredictorFileError: A file is missing or unreadable, or the weights do not match the configuration.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(directory)
        config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise PredictorFileError(
                    f"{path} is missing: {folder} is not a saved tier-1 predictor folder"
                )
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            training = TrainingConfig(**config["training"])
            # Predictors saved before the int8 / shallow encoder options embedded with the full float model.
            features = FeatureConfig(
                **{"quantized_encoder": False, "encoder_layers": None, **config["features"]}
            )
            models, labels = list(config["models"]), list(config["task_labels"])
            default_tokens = config["default_output_tokens"]
            # Predictors saved before the neighbour term have none.
            neighbour_config = config.get("neighbours") or {"k": 0, "weight": 0.0}
            neighbours, neighbour_weight = int(neighbour_config["k"]), float(neighbour_config["weight"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PredictorFileError(f"{config_path} is corrupted or not a tier-1 config: {exc}") from exc
        if config.get("format_version") != FORMAT_VERSION:
            raise PredictorFileError(
                f"{config_path} has format_version {config.get('format_version')!r}, expected 1"
            )
        featurizer = PromptFeaturizer(features, encoder)
        try:
            state = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise PredictorFileError(f"{weights_path} is corrupted: {exc}") from exc
        memory_keys = state.pop(_MEMORY_KEYS, None)
        memory_scores = state.pop(_MEMORY_SCORES, None)
        blend_arrays = {
            name: state.pop(name).numpy() for name in list(state) if name.startswith(_BLEND_PREFIX)
        }
        blend = None
        if config.get("blend"):
            try:
                blend = RouterBlend.restore(config["blend"], blend_arrays, _BLEND_PREFIX)
            except (KeyError, ValueError, TypeError) as exc:
                raise PredictorFileError(
                    f"{config_path}'s router blend does not match {weights_path}: {exc}"
                ) from exc
        net = _build(featurizer.dimension, len(models), len(labels), training)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise PredictorFileError(f"{weights_path} does not match {config_path}: {exc}") from exc
        return cls(
            net,
            models=models,
            task_labels=labels,
            featurizer=featurizer,
            training=training,
            default_output_tokens=default_tokens,
            info=config.get("info", {}),
            memory_keys=None if memory_keys is None else memory_keys.float().numpy(),
            memory_scores=None if memory_scores is None else memory_scores.numpy(),
            neighbours=neighbours,
            neighbour_weight=neighbour_weight,
            blend=blend,
        )


_BLOCK = 1024
"""Prompts per block of the neighbour/memory similarity matrix (1024 × 100k training prompts ≈ 400 MB)."""
_MEMORY_KEYS = "memory.keys"
_MEMORY_SCORES = "memory.scores"
_BLEND_PREFIX = "blend."


def _memory_keys(features: np.ndarray, featurizer: PromptFeaturizer) -> np.ndarray:
    """Unit-length similarity keys: the sentence-embedding block of the features (all features without it)."""
    width = featurizer.embedding_dimension or features.shape[1]
    return unit_keys(features[:, :width])


def _choose_neighbour_term(
    members: Sequence[QualityNet],
    x: np.ndarray,
    scores: np.ndarray,
    keys: np.ndarray,
    cfg: TrainingConfig,
) -> tuple[int, float, dict[str, float]]:
    """Pick the neighbourhood size and blend weight with the lowest loss on the members' validation splits.

    Each member's validation prompts are scored by that member and by neighbours drawn from its own training
    prompts only, so nothing is judged on prompts it was fitted on. Returns ``(k, weight, losses)``; weight 0
    (the network alone) when no blend helps or there is no validation split.
    """
    weights = sorted(set(cfg.neighbour_weights))
    net_parts: list[np.ndarray] = []
    neighbour_parts: dict[int, list[np.ndarray]] = {k: [] for k in cfg.neighbour_counts}
    targets: list[np.ndarray] = []
    for index, net in enumerate(members):
        val_idx, train_idx = _validation_split(len(x), cfg, cfg.seed + index)
        if not len(val_idx):
            continue
        with torch.inference_mode():
            logits = net(torch.from_numpy(np.ascontiguousarray(x[val_idx], dtype=np.float32)))[0]
        net_parts.append(torch.sigmoid(logits).numpy().astype(np.float64))
        for start in range(0, len(val_idx), _BLOCK):
            # In row blocks, as in prediction: the full similarity matrix of a large table would not fit.
            similarity = keys[val_idx[start : start + _BLOCK]] @ keys[train_idx].T
            for k in cfg.neighbour_counts:
                neighbour_parts[k].append(neighbour_scores(similarity, scores[train_idx], k))
        targets.append(scores[val_idx].astype(np.float64))
    if not targets or max(weights) <= 0:
        return 0, 0.0, {}
    net_p, y = np.concatenate(net_parts), np.concatenate(targets)

    def bce(p: np.ndarray) -> float:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    losses = {
        (k, w): bce((1 - w) * net_p + w * np.concatenate(neighbour_parts[k]))
        for k in cfg.neighbour_counts
        for w in weights
    }
    k, weight = min(losses, key=losses.__getitem__)
    report = {f"k={k},w={w}": round(loss, 5) for (k, w), loss in losses.items()}
    return (k, weight, report) if weight > 0 else (0, 0.0, report)


def _validation_split(n: int, cfg: TrainingConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One member's (validation, training) prompt indices: a seeded shuffle, ``validation_fraction`` held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * cfg.validation_fraction)) if n >= 20 else 0
    return order[:n_val], order[n_val:]


_PER_MODEL_PARAMETERS = ("quality_vectors", "quality_bias", "token_vectors", "token_bias")


def _onboard_member(
    net: QualityNet,
    features: torch.Tensor,
    y: torch.Tensor,
    *,
    l2: float | None,
    steps: int,
    mean_tokens: float | None,
    pessimism: float,
) -> None:
    """Append one model to a member network: fit its quality vector on the frozen trunk, toward the mean."""
    with torch.no_grad():
        hidden = net.trunk.eval()(features)
    prior_v = net.quality_vectors.detach().mean(dim=0)
    prior_b = net.quality_bias.detach().mean()
    if l2 is None:
        l2 = _validated_l2(hidden, y, prior_v, prior_b, steps=steps)
    v, b = _fit_member_vector(hidden, y, prior_v, prior_b, l2=l2, steps=steps)
    if pessimism:
        # A lower confidence bound: move the bias down by `pessimism` standard errors of a mean of len(y) probes
        # (on the logit scale), so an uncertain newcomer does not take prompts from members known to do them.
        mean = float(y.mean().clamp(0.05, 0.95))
        with torch.no_grad():
            b -= pessimism / math.sqrt(len(y) * mean * (1 - mean))
    token_v = net.token_vectors.detach().mean(dim=0)
    token_b = net.token_bias.detach().mean()
    if mean_tokens is not None:
        token_v, token_b = torch.zeros_like(token_v), torch.tensor(math.log1p(mean_tokens))
    with torch.no_grad():
        net.quality_vectors = nn.Parameter(torch.cat([net.quality_vectors, v.detach()[None]]))
        net.quality_bias = nn.Parameter(torch.cat([net.quality_bias, b.detach()[None]]))
        net.token_vectors = nn.Parameter(torch.cat([net.token_vectors, token_v[None]]))
        net.token_bias = nn.Parameter(torch.cat([net.token_bias, token_b.reshape(1)]))


# Pull strengths tried when onboarding (a ridge toward the mean member on the summed probe log-loss).
ONBOARDING_L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
ONBOARDING_FOLDS = 5


def _fit_member_vector(
    hidden: torch.Tensor,
    y: torch.Tensor,
    prior_v: torch.Tensor,
    prior_b: torch.Tensor,
    *,
    l2: float,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    v = prior_v.clone().requires_grad_(True)
    b = prior_b.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([v, b], lr=0.05)
    for _ in range(steps):
        logits = hidden @ v + b
        penalty = (v - prior_v).pow(2).sum() + (b - prior_b).pow(2)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y) + l2 / len(y) * penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return v.detach(), b.detach()


def _validated_l2(
    hidden: torch.Tensor, y: torch.Tensor, prior_v: torch.Tensor, prior_b: torch.Tensor, *, steps: int
) -> float:
    """The grid's pull strength with the lowest held-out log-loss over folds of the probes (ties: the stronger)."""
    n = len(y)
    folds = min(ONBOARDING_FOLDS, n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    losses: dict[float, float] = {}
    for l2 in ONBOARDING_L2_GRID:
        total = 0.0
        for fold in range(folds):
            held = order[fold::folds]
            keep = torch.ones(n, dtype=torch.bool)
            keep[held] = False
            v, b = _fit_member_vector(hidden[keep], y[keep], prior_v, prior_b, l2=l2, steps=steps)
            with torch.no_grad():
                logits = hidden[held] @ v + b
                total += float(
                    nn.functional.binary_cross_entropy_with_logits(logits, y[held], reduction="sum")
                )
        losses[l2] = total / n
    best = min(losses.values())
    return max(l2 for l2, loss in losses.items() if loss <= best + 1e-9)


def _output_tokens(table: Any) -> tuple[np.ndarray, np.ndarray]:
    n, m = table.scores.shape
    tokens = np.zeros((n, m), dtype=np.float32)
    mask = np.zeros((n, m), dtype=bool)
    for p in range(n):
        for j in range(m):
            value = table.row(p, j).output_tokens
            if value is not None:
                tokens[p, j] = value
                mask[p, j] = True
    return tokens, mask


def _default_tokens(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = mask.sum(axis=0)
    sums = (tokens * mask).sum(axis=0)
    # Without any recorded output length, assume a short answer.
    return np.where(counts > 0, sums / np.maximum(counts, 1), UNKNOWN_OUTPUT_TOKENS)


def _loss(
    net: QualityNet, batch: list[torch.Tensor], cfg: TrainingConfig, *, quality_only: bool = False
) -> torch.Tensor:
    x, scores, log_tokens, token_mask, tasks = batch
    quality, tokens, task_logits = net(x)
    loss = nn.functional.binary_cross_entropy_with_logits(quality, scores)
    if quality_only:
        return loss
    if bool(token_mask.any()):
        squared = (tokens - log_tokens).pow(2) * token_mask
        loss = loss + cfg.token_loss_weight * squared.sum() / token_mask.sum()
    labelled = tasks >= 0
    if bool(labelled.any()):
        loss = loss + cfg.task_loss_weight * nn.functional.cross_entropy(
            task_logits[labelled], tasks[labelled]
        )
    return loss


def _train_member(
    tensors: list[torch.Tensor],
    cfg: TrainingConfig,
    seed: int,
    n_tasks: int,
    default_tokens: np.ndarray,
    device: torch.device,
) -> tuple[QualityNet, dict[str, Any]]:
    """Train one network with its own seed and validation split; early-stop on validation quality loss."""
    torch.manual_seed(seed)
    x, scores = tensors[0], tensors[1]
    val_idx, train_idx = _validation_split(len(x), cfg, seed)
    n_val = len(val_idx)
    net = QualityNet(x.shape[1], scores.shape[1], n_tasks, cfg.hidden, cfg.model_dim, cfg.dropout).to(device)
    with torch.no_grad():
        # Start each model's bias at its base rate so early epochs learn differences, not averages.
        base = scores[torch.tensor(train_idx, device=device)].mean(dim=0).clamp(1e-3, 1 - 1e-3)
        net.quality_bias.copy_(torch.log(base / (1 - base)))
        net.token_bias.copy_(torch.tensor(np.log1p(default_tokens), dtype=torch.float32))
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    train_t = torch.tensor(train_idx, dtype=torch.long)
    val_t = torch.tensor(val_idx, dtype=torch.long, device=device)
    best_loss, best_state, best_epoch, epochs_run = math.inf, None, 0, 0
    for epoch in range(cfg.max_epochs):
        epochs_run = epoch + 1
        net.train()
        permutation = train_t[torch.randperm(len(train_t), generator=generator)]
        for start in range(0, len(permutation), cfg.batch_size):
            batch = permutation[start : start + cfg.batch_size].to(device)
            loss = _loss(net, [t[batch] for t in tensors], cfg)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if n_val == 0:
            continue
        net.eval()
        with torch.no_grad():
            val_loss = float(_loss(net, [t[val_t] for t in tensors], cfg, quality_only=True))
        if val_loss < best_loss - 1e-5:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    run = {
        "seed": seed,
        "n_validation": n_val,
        "epochs": epochs_run,
        "best_epoch": best_epoch + 1,
        "validation_bce": None if best_loss is math.inf else round(best_loss, 5),
    }
    return net.to("cpu").eval(), run
