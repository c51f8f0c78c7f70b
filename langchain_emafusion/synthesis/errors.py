"""Typed errors of the synthesis sub-package."""

from __future__ import annotations

from langchain_emafusion.errors import EmaFusionError

__all__ = ["SeedTemplateError", "SynthesisError", "SynthesisResumeError"]


class SeedTemplateError(EmaFusionError, ValueError):
    """A seed template file is invalid; the message names the file, the template and the field."""


class SynthesisError(EmaFusionError, RuntimeError):
    """A synthesis run cannot go on (a pool member named by a template is missing, calls failed, ...)."""


class SynthesisResumeError(SynthesisError):
    """An existing output file was written with other arguments (other templates, seed or pool): not resumable."""
