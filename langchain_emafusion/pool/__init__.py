"""The pool: model cards, the validated pool (Python or YAML) and the embedded local models."""

from langchain_emafusion.pool.card import Capabilities, ModelCard
from langchain_emafusion.pool.pool import ModelPool

__all__ = ["Capabilities", "ModelCard", "ModelPool"]
