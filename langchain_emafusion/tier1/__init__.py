"""Tier 1: predict which pool members will answer a prompt well, without calling them, and select within budget.

Importing this sub-package imports torch; the top-level package never does so on its own.
"""

from langchain_emafusion.tier1.blend import RouterBlend
from langchain_emafusion.tier1.calibration import CalibrationResult, calibrate
from langchain_emafusion.tier1.features import FeatureConfig, PromptFeaturizer
from langchain_emafusion.tier1.predictor import (
    Predictions,
    PredictorFileError,
    Tier1Predictor,
    TrainingConfig,
)
from langchain_emafusion.tier1.router import Tier1Router
from langchain_emafusion.tier1.selector import Selection, SelectionCaps, select_models

__all__ = [
    "CalibrationResult",
    "calibrate",
    "FeatureConfig",
    "PromptFeaturizer",
    "Predictions",
    "PredictorFileError",
    "Tier1Predictor",
    "TrainingConfig",
    "Tier1Router",
    "RouterBlend",
    "Selection",
    "SelectionCaps",
    "select_models",
]
