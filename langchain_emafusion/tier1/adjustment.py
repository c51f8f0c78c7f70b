"""A trained router corrected by production feedback: per-member logit offsets learned from scored answers.

Feedback is partial: each request reveals the score of the one member that answered it, never the others', so it
cannot retrain the predictor (which needs every member's score of a prompt). It can correct it: for a member
``m`` with feedback, the corrected quality of a prompt with sentence-embedding key ``x`` is

    q'_m(x) = sigmoid(logit(q_m(x)) + b_m + w_m · (x - c))

where ``c`` is the feedback prompts' mean key (so ``b_m`` is the correction of an average prompt), ``q_m`` is the
trained predictor's (its network, blend and memory included) and ``(b_m, w_m)`` minimise the
log loss of ``q'_m`` on ``m``'s scored answers plus ``strength · (b_m² + |w_m|²)``: with few answers the
correction stays near 0, with many it can move the member's quality where the trained router was wrong about it.
Members without feedback are unchanged. ``strength`` is chosen by k-fold cross-validation on the feedback itself
among :data:`STRENGTHS`, against making no correction at all; when no correction validates better than none,
:func:`fit_adjustment` returns no correction and the router stays as trained.

Training lives here and runs offline (``emafusion train --outcomes FEEDBACK --base POLICY``); the serving path only
calls :meth:`FeedbackAdjustment.apply` (a matrix product).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from langchain_emafusion.tier1.predictor import Tier1Predictor

__all__ = ["STRENGTHS", "FeedbackAdjustment", "fit_adjustment"]

STRENGTHS: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
"""The penalties cross-validation chooses among (larger: a smaller correction)."""
_FOLDS = 5
_NEWTON_STEPS = 50
_EPS = 1e-4


@dataclass
class FeedbackAdjustment:
    """Per-member corrections of a trained predictor's quality logits (see the module docstring)."""

    models: list[str]
    """The corrected members (a subset of the predictor's)."""
    bias: np.ndarray
    """(len(models),) logit offsets."""
    weights: np.ndarray
    """(len(models), key dimension) weights on the prompt's sentence-embedding key, centred."""
    center: np.ndarray
    """(key dimension,) the feedback prompts' mean key."""
    strength: float
    """The penalty cross-validation chose."""
    examples: dict[str, int] = field(default_factory=dict)
    """Scored answers per corrected member."""
    validation: dict[str, Any] = field(default_factory=dict)
    """Out-of-fold log loss per strength and with no correction, and the folds used."""

    def apply(self, models: Sequence[str], quality: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """``quality`` (prompts × ``models``) with the corrected members' columns moved; ``keys``: prompt keys."""
        if not len(quality):
            return quality
        index = {name: i for i, name in enumerate(models)}
        columns = [index[name] for name in self.models if name in index]
        rows = [i for i, name in enumerate(self.models) if name in index]
        if not columns:
            return quality
        out = np.array(quality, dtype=np.float64, copy=True)
        offsets = (keys.astype(np.float64) - self.center) @ self.weights[rows].T + self.bias[rows]
        out[:, columns] = _sigmoid(_logit(out[:, columns]) + offsets)
        return out

    def config(self) -> dict[str, Any]:
        """The JSON side (the arrays go to the weights file: :meth:`tensors`)."""
        return {
            "models": list(self.models),
            "strength": self.strength,
            "examples": dict(self.examples),
            "validation": self.validation,
        }

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays under ``prefix`` names, for a safetensors file."""
        return {
            f"{prefix}bias": self.bias.astype(np.float32),
            f"{prefix}weights": self.weights.astype(np.float32),
            f"{prefix}center": self.center.astype(np.float32),
        }

    @classmethod
    def restore(
        cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray], prefix: str
    ) -> FeedbackAdjustment:
        """Rebuild from :meth:`config` and :meth:`tensors` (raises KeyError/ValueError when they disagree)."""
        models = [str(name) for name in config["models"]]
        bias = np.asarray(arrays[f"{prefix}bias"], dtype=np.float64)
        weights = np.asarray(arrays[f"{prefix}weights"], dtype=np.float64)
        center = np.asarray(arrays[f"{prefix}center"], dtype=np.float64)
        if (
            bias.shape != (len(models),)
            or weights.ndim != 2
            or weights.shape[0] != len(models)
            or center.shape != (weights.shape[1],)
        ):
            raise ValueError(
                f"feedback arrays {bias.shape}, {weights.shape} do not fit {len(models)} members"
            )
        return cls(
            models=models,
            bias=bias,
            weights=weights,
            center=center,
            strength=float(config["strength"]),
            examples={str(k): int(v) for k, v in dict(config.get("examples", {})).items()},
            validation=dict(config.get("validation", {})),
        )


def fit_adjustment(
    predictor: Tier1Predictor,
    prompts: Sequence[str],
    models: Sequence[str],
    scores: Sequence[float],
    *,
    seed: int = 0,
) -> tuple[FeedbackAdjustment | None, dict[str, Any]]:
    """Fit the correction of ``predictor`` to scored answers (prompt, answering member, score in [0, 1]).

    The predictor is read as trained: a correction it already serves is left out of its predictions here, so
    the new one replaces it (fit on the whole feedback log each time).

    Returns:
        The correction (None when cross-validation prefers none, or there is no feedback) and the validation's
        account: out-of-fold log loss per strength and with no correction, the folds, the choice.

    Raises:
        ValueError: The sequences differ in length, a score is outside [0, 1], or a member is not the predictor's.
    """
    n = len(prompts)
    if len(models) != n or len(scores) != n:
        raise ValueError("feedback needs one member and one score per prompt")
    if not n:
        return None, {"chosen": "none", "reason": "no feedback"}
    y = np.asarray(scores, dtype=np.float64)
    if not bool(np.all((y >= 0) & (y <= 1))):
        raise ValueError("feedback scores must lie in [0, 1]")
    unknown = sorted(set(models) - set(predictor.models))
    if unknown:
        raise ValueError(
            f"feedback names members the router does not have: {', '.join(unknown)} "
            f"(it has: {', '.join(predictor.models)})"
        )
    features = predictor.featurizer.transform(list(prompts))
    quality = predictor.predict_features(features, corrected=False).quality
    keys = predictor.similarity_keys(features).astype(np.float64)
    center = keys.mean(axis=0)
    keys = keys - center
    column = {name: i for i, name in enumerate(predictor.models)}
    member = np.array([column[m] for m in models])
    offset = _logit(quality[np.arange(n), member])

    folds = np.random.default_rng(seed).permutation(n) % min(_FOLDS, n)
    losses: dict[str, float] = {"none": _log_loss(y, _sigmoid(offset))}
    if n >= 2:
        for strength in STRENGTHS:
            held_out = np.empty(n)
            for fold in range(int(folds.max()) + 1):
                test, train = folds == fold, folds != fold
                held_out[test] = _predict_held_out(keys, offset, y, member, train, test, strength)
            losses[str(strength)] = _log_loss(y, held_out)
    best = min(losses, key=lambda name: losses[name])
    validation = {
        "out_of_fold_log_loss": {k: round(v, 6) for k, v in losses.items()},
        "folds": int(folds.max()) + 1,
        "chosen": best,
    }
    if best == "none":
        return None, validation
    strength = float(best)
    names = [name for name in predictor.models if bool(np.any(member == column[name]))]
    bias = np.zeros(len(names))
    weights = np.zeros((len(names), keys.shape[1]))
    for i, name in enumerate(names):
        rows = member == column[name]
        bias[i], weights[i] = _fit_member(keys[rows], offset[rows], y[rows], strength)
    adjustment = FeedbackAdjustment(
        models=names,
        bias=bias,
        weights=weights,
        center=center,
        strength=strength,
        examples={name: int(np.sum(member == column[name])) for name in names},
        validation=validation,
    )
    return adjustment, validation


def _predict_held_out(
    keys: np.ndarray,
    offset: np.ndarray,
    y: np.ndarray,
    member: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    strength: float,
) -> np.ndarray:
    out = _sigmoid(offset[test])
    for j in np.unique(member[test]):
        fit_rows = train & (member == j)
        if not fit_rows.any():
            continue
        b, w = _fit_member(keys[fit_rows], offset[fit_rows], y[fit_rows], strength)
        rows = member[test] == j
        out[rows] = _sigmoid(offset[test][rows] + keys[test][rows] @ w + b)
    return out


def _fit_member(
    keys: np.ndarray, offset: np.ndarray, y: np.ndarray, strength: float
) -> tuple[float, np.ndarray]:
    """Penalised logistic regression with a fixed offset (soft targets allowed): damped Newton steps.

    The offsets may be saturated (a predictor sure of 0 or 1), where a full Newton step overshoots; each step is
    halved until the penalised loss falls.
    """
    x = np.hstack([np.ones((len(keys), 1)), keys])
    theta = np.zeros(x.shape[1])
    penalty = strength * np.eye(x.shape[1])

    def objective(t: np.ndarray) -> float:
        z = offset + x @ t
        # log(1 + e^z) - y z, computed stably.
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * t @ penalty @ t)

    current = objective(theta)
    for _ in range(_NEWTON_STEPS):
        p = _sigmoid(offset + x @ theta)
        gradient = x.T @ (p - y) + penalty @ theta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6:
            candidate = theta - scale * step
            value = objective(candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break
        theta, improvement, current = candidate, current - value, value
        if improvement < 1e-9 * max(1.0, abs(current)):
            break
    return float(theta[0]), theta[1:]


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, _EPS, 1 - _EPS)
    return np.log(clipped) - np.log1p(-clipped)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))  # 1 / (1 + e^-z) without overflow


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
