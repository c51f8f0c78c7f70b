"""Targets instead of knobs: pick the learned router's knob that meets an accuracy or a mean-cost target.

A trained router carries a calibration curve: for each knob setting, the accuracy and mean cost per request the
whole system (tier 1 and tier 2) reached on its training table out of fold (each prompt routed by predictors and
judges that never saw it). :func:`choose_knob` reads a target off that curve. This module is light (no numpy,
no torch) because the chat model resolves its target while it routes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_emafusion.errors import InvalidInputError

__all__ = [
    "MANIFEST_FILE",
    "CalibrationPoint",
    "CalibrationResult",
    "choose_knob",
    "curve_from_json",
    "curve_to_json",
    "load_calibration",
]

MANIFEST_FILE = "manifest.json"
"""The policy folder's manifest, written by ``emafusion train``; its ``calibration`` entry holds the curve."""


@dataclass(frozen=True)
class CalibrationPoint:
    """Figures of one knob setting on a reference table."""

    knob: float
    accuracy: float
    mean_cost_usd: float


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen setting, what it is expected to achieve, and the whole sweep."""

    knob: float
    expected_accuracy: float
    expected_cost_usd: float
    target: str
    met: bool
    curve: list[CalibrationPoint]
    source: str = ""
    """Where the curve comes from (e.g. "out-of-fold replay of the training table, 600 prompts")."""

    def metadata(self) -> dict[str, Any]:
        """The choice as routing metadata (JSON-serializable, without the curve)."""
        return {
            "target": self.target,
            "met": self.met,
            "quality_cost_tradeoff": self.knob,
            "expected_accuracy": round(self.expected_accuracy, 4),
            "expected_cost_usd_per_request": self.expected_cost_usd,
            "source": self.source,
        }


def choose_knob(
    curve: Sequence[CalibrationPoint],
    *,
    target_accuracy: float | None = None,
    max_mean_cost_usd: float | None = None,
    source: str = "",
) -> CalibrationResult:
    """Read exactly one target off a calibration curve.

    With ``target_accuracy`` the cheapest setting reaching it; with ``max_mean_cost_usd`` the most accurate
    setting whose mean cost per request stays within it. When no setting meets the target the closest one is
    returned with ``met=False`` (the most accurate for an accuracy target, the cheapest for a cost one).

    Raises:
        InvalidInputError: Unless exactly one target is given, for a target out of range, or an empty curve.
    """
    if (target_accuracy is None) == (max_mean_cost_usd is None):
        raise InvalidInputError("give exactly one of target_accuracy or max_mean_cost_usd")
    if not curve:
        raise InvalidInputError("the calibration curve is empty")
    points = list(curve)
    if max_mean_cost_usd is not None:
        if isinstance(max_mean_cost_usd, bool) or not max_mean_cost_usd >= 0:
            raise InvalidInputError(f"max_mean_cost_usd must be a number >= 0, got {max_mean_cost_usd!r}")
        within = [p for p in points if p.mean_cost_usd <= max_mean_cost_usd + 1e-12]
        met = bool(within)
        pick = (
            max(within, key=lambda p: (p.accuracy, -p.mean_cost_usd))
            if within
            else min(points, key=lambda p: (p.mean_cost_usd, -p.accuracy))
        )
        target = f"mean cost per request <= ${max_mean_cost_usd:g}"
    else:
        assert target_accuracy is not None
        if isinstance(target_accuracy, bool) or not 0 <= target_accuracy <= 1:
            raise InvalidInputError(f"target_accuracy must lie in [0, 1], got {target_accuracy!r}")
        reaching = [p for p in points if p.accuracy >= target_accuracy - 1e-12]
        met = bool(reaching)
        pick = (
            min(reaching, key=lambda p: (p.mean_cost_usd, -p.accuracy))
            if reaching
            else max(points, key=lambda p: (p.accuracy, -p.mean_cost_usd))
        )
        target = f"accuracy >= {target_accuracy:g}"
    return CalibrationResult(
        knob=pick.knob,
        expected_accuracy=pick.accuracy,
        expected_cost_usd=pick.mean_cost_usd,
        target=target,
        met=met,
        curve=points,
        source=source,
    )


def curve_to_json(curve: Sequence[CalibrationPoint]) -> list[dict[str, float]]:
    """The curve as a JSON list of ``{knob, accuracy, mean_cost_usd}``."""
    return [
        {"knob": p.knob, "accuracy": round(p.accuracy, 6), "mean_cost_usd": p.mean_cost_usd} for p in curve
    ]


def curve_from_json(points: Sequence[Mapping[str, Any]]) -> list[CalibrationPoint]:
    """Read a curve written by :func:`curve_to_json`.

    Raises:
        InvalidInputError: A point lacks a field or holds a non-number.
    """
    curve = []
    for i, point in enumerate(points):
        try:
            curve.append(
                CalibrationPoint(
                    float(point["knob"]), float(point["accuracy"]), float(point["mean_cost_usd"])
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"calibration point {i} is malformed: {error!r}") from None
    return curve


def load_calibration(policy_dir: str | os.PathLike[str]) -> tuple[list[CalibrationPoint], str]:
    """The out-of-fold knob curve ``emafusion train`` saved in a policy folder, and where it comes from.

    Raises:
        InvalidInputError: The folder holds no manifest, the policy was trained before calibration curves were
            saved (retrain it), or the curve is malformed.
    """
    path = Path(policy_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            f"{policy_dir} holds no {MANIFEST_FILE}: a calibration curve comes with a policy written by "
            "`emafusion train --outcomes TRAIN.jsonl --out DIR`"
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path} is not valid JSON: {error.msg}") from None
    calibration = manifest.get("calibration") if isinstance(manifest, dict) else None
    if not isinstance(calibration, dict) or not calibration.get("curve"):
        raise InvalidInputError(
            f"the policy in {policy_dir} holds no calibration curve (trained before this version): retrain it "
            "with `emafusion train`, or calibrate it on a reference table with `emafusion calibrate --outcomes`"
        )
    return curve_from_json(calibration["curve"]), str(calibration.get("source", ""))
