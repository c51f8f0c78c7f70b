"""Typed errors raised by langchain-emafusion.

Every error derives from :class:`EmaFusionError`, so callers can catch the package's failures in one place,
and each names what to fix.
"""

from __future__ import annotations

__all__ = [
    "EmaFusionError",
    "PoolConfigError",
    "MissingModelPackageError",
    "ModelIntegrityError",
    "NoEligibleModelError",
    "UnknownRouterError",
    "InvalidInputError",
    "AllMembersFailedError",
]


class EmaFusionError(Exception):
    """Base class of every error raised by langchain-emafusion."""


class PoolConfigError(EmaFusionError, ValueError):
    """A pool definition (Python or YAML) is invalid; the message names the entry and the field."""


class MissingModelPackageError(EmaFusionError, ImportError):
    """An embedded model's weights package (or llama-cpp-python) is not installed."""


class ModelIntegrityError(EmaFusionError):
    """A model file's sha256 does not match the pinned digest; the file is refused, never loaded."""


class NoEligibleModelError(EmaFusionError):
    """No pool member satisfies the request's requirements (capabilities, context window, caps)."""


class UnknownRouterError(EmaFusionError, KeyError):
    """A router name was not found in the router registry."""

    def __str__(self) -> str:
        # KeyError quotes its argument; show the message as written.
        return str(self.args[0]) if self.args else ""


class InvalidInputError(EmaFusionError, ValueError):
    """The request itself is unusable (for example no messages, or no text in them)."""


class AllMembersFailedError(EmaFusionError):
    """Every pool member tried for a request failed; ``failures`` lists each attempt's error."""

    def __init__(self, message: str, *, failures: list[str]) -> None:
        super().__init__(message)
        self.failures = failures
