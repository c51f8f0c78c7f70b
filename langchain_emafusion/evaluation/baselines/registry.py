"""Registry of the baseline policies by name, and a helper that fits every applicable one on a train table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_emafusion.evaluation.baselines.cascade import CascadePolicy
from langchain_emafusion.evaluation.baselines.knn import KnnRouterPolicy
from langchain_emafusion.evaluation.baselines.linear import LinearRouterPolicy
from langchain_emafusion.evaluation.baselines.simple import RandomMixPolicy, SingleModelPolicy
from langchain_emafusion.evaluation.baselines.vote import MajorityVotePolicy
from langchain_emafusion.evaluation.protocol import ReplayPolicy
from langchain_emafusion.evaluation.table import OutcomeTable
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["BASELINES", "baseline_names", "make_baseline", "fit_baselines"]

BaselineFactory = Callable[[PromptEncoder | None, int, bool], ReplayPolicy]

BASELINES: dict[str, BaselineFactory] = {
    "random": lambda encoder, seed, progress: RandomMixPolicy(seed=seed),
    "knn-router": lambda encoder, seed, progress: KnnRouterPolicy(encoder, seed=seed, progress=progress),
    "linear-router": lambda encoder, seed, progress: LinearRouterPolicy(
        encoder, seed=seed, progress=progress
    ),
    "majority-vote": lambda encoder, seed, progress: MajorityVotePolicy(),
    "cascade": lambda encoder, seed, progress: CascadePolicy(encoder, seed=seed, progress=progress),
}
"""Baseline factories by name; each takes (encoder, seed, progress). Single models are ``single:<model>``."""


def baseline_names() -> list[str]:
    """Return the registered baseline names (single models excluded: they are reported as ``models``)."""
    return list(BASELINES)


def make_baseline(
    name: str, *, encoder: PromptEncoder | None = None, seed: int = 0, progress: bool = False
) -> ReplayPolicy:
    """Create an unfitted baseline by name (``single:<model>`` for one fixed model).

    Raises:
        KeyError: Unknown name; the message lists the known ones.
    """
    if name.startswith("single:"):
        return SingleModelPolicy(name.removeprefix("single:"))
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}, single:<model>")
    return BASELINES[name](encoder, seed, progress)


def _applies(policy: ReplayPolicy, train: OutcomeTable) -> bool:
    check = getattr(policy, "applies_to", None)
    return True if check is None else bool(check(train))


def fit_baselines(
    train: OutcomeTable,
    names: Sequence[str] | None = None,
    *,
    encoder: PromptEncoder | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[list[ReplayPolicy], list[str]]:
    """Create and fit baselines on a training table.

    Args:
        train: The training table.
        names: Baselines to fit (default: all registered).
        encoder: Prompt encoder shared by the embedding-based baselines.
        seed: Seed for randomized baselines and solvers.
        progress: Show progress bars.

    Returns:
        The fitted policies, and the names skipped because they do not apply to this table (e.g. a vote
        without answer keys).
    """
    fitted: list[ReplayPolicy] = []
    skipped: list[str] = []
    for name in names or baseline_names():
        policy = make_baseline(name, encoder=encoder, seed=seed, progress=progress)
        if not _applies(policy, train):
            skipped.append(name)
            continue
        policy.fit(train)
        fitted.append(policy)
    return fitted, skipped
