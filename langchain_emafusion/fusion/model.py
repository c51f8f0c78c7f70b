"""`Tier2Model`: what tier 2 learned — the answer judge and which strategy to run for which prompts at which knob."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.fusion.judge import AnswerJudge

__all__ = ["Tier2Model", "Tier2FileError", "TIER2_FILE", "ALL_TASKS"]

TIER2_FILE = "tier2.json"
"""File name of a saved tier-2 model inside a trained policy folder."""
ALL_TASKS = "*"
"""Strategy-table key used for prompts whose predicted task has no entry of its own."""
_FORMAT_VERSION = 1


class Tier2FileError(EmaFusionError, ValueError):
    """A saved tier-2 model is missing, unreadable or of another version."""


@dataclass
class Tier2Model:
    """The judge plus the learned strategy table.

    ``strategies[task][i]`` is the strategy for prompts whose predicted task is ``task`` at knob ``knobs[i]``
    (a knob between two settings uses the lower one's choice; ``ALL_TASKS`` covers unlisted tasks).
    """

    judge: AnswerJudge
    knobs: list[float]
    strategies: dict[str, list[str]]
    answers_expected: bool = False
    max_calls: int = 3
    info: dict[str, Any] = field(default_factory=dict)
    """How it was trained: folds, prompts replayed, per-strategy training utility."""

    def __post_init__(self) -> None:
        if ALL_TASKS not in self.strategies:
            raise ValueError(f"the strategy table needs an {ALL_TASKS!r} entry")
        for task, row in self.strategies.items():
            if len(row) != len(self.knobs):
                raise ValueError(f"strategy row {task!r} has {len(row)} entries for {len(self.knobs)} knobs")
        if list(self.knobs) != sorted(self.knobs):
            raise ValueError("knobs must be sorted")

    def strategy_for(self, task: str | None, knob: float) -> str:
        """The strategy for a prompt of predicted task ``task`` at knob ``knob``."""
        row = self.strategies.get(task or ALL_TASKS, self.strategies[ALL_TASKS])
        position = max(bisect.bisect_right(self.knobs, knob) - 1, 0)
        return row[position]

    def predicted_task(self, task_probs: np.ndarray | None) -> str | None:
        """The predicted task label (argmax of tier 1's task head), if tier 1 has one."""
        labels = self.judge.task_labels
        if task_probs is None or not labels or len(task_probs) != len(labels):
            return None
        return labels[int(np.argmax(task_probs))]

    def save(self, directory: str | Path) -> Path:
        """Write ``tier2.json`` into ``directory``; returns its path."""
        path = Path(directory) / TIER2_FILE
        payload = {
            "format_version": _FORMAT_VERSION,
            "judge": self.judge.to_json(),
            "knobs": self.knobs,
            "strategies": self.strategies,
            "answers_expected": self.answers_expected,
            "max_calls": self.max_calls,
            "info": self.info,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Tier2Model:
        """Read ``tier2.json`` from ``directory``.

        Raises:
            Tier2FileError: Missing, corrupted or of another format version.
        """
        path = Path(directory) / TIER2_FILE
        if not path.is_file():
            raise Tier2FileError(f"{path} is missing: train the policy with `emafusion train` first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format_version") != _FORMAT_VERSION:
                raise ValueError(f"format_version {data.get('format_version')!r}, expected {_FORMAT_VERSION}")
            return cls(
                judge=AnswerJudge.from_json(data["judge"]),
                knobs=[float(k) for k in data["knobs"]],
                strategies={str(k): [str(s) for s in v] for k, v in data["strategies"].items()},
                answers_expected=bool(data["answers_expected"]),
                max_calls=int(data["max_calls"]),
                info=dict(data.get("info", {})),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Tier2FileError(f"{path} is not a valid tier-2 model: {exc}") from exc
