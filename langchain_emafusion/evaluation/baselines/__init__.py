"""Baseline policies for replay: every later method is compared with these in the same run."""

from langchain_emafusion.evaluation.baselines.cascade import CascadePolicy
from langchain_emafusion.evaluation.baselines.knn import KnnRouterPolicy
from langchain_emafusion.evaluation.baselines.linear import LinearRouterPolicy
from langchain_emafusion.evaluation.baselines.registry import (
    BASELINES,
    baseline_names,
    fit_baselines,
    make_baseline,
)
from langchain_emafusion.evaluation.baselines.simple import RandomMixPolicy, SingleModelPolicy
from langchain_emafusion.evaluation.baselines.vote import MajorityVotePolicy

__all__ = [
    "BASELINES",
    "CascadePolicy",
    "KnnRouterPolicy",
    "LinearRouterPolicy",
    "MajorityVotePolicy",
    "RandomMixPolicy",
    "SingleModelPolicy",
    "baseline_names",
    "fit_baselines",
    "make_baseline",
]
