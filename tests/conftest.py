"""Shared fixtures: fake pool members (no network, no weights) and the shared-data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (a red CI must mean a regression, not a lucky draw); developers'
# runs keep exploring new random examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder beside the checkout (CI lays it there); EMAFUSION_SHARED_DIR overrides."""
    path = Path(os.environ.get("EMAFUSION_SHARED_DIR", REPO_ROOT.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.fail(f"shared data not found at {path}; set EMAFUSION_SHARED_DIR")
    return path
