"""Shared fixtures: fake pool members (no network, no weights) and the shared-data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder beside the checkout (CI lays it there); EMAFUSION_SHARED_DIR overrides."""
    path = Path(os.environ.get("EMAFUSION_SHARED_DIR", REPO_ROOT.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.fail(f"shared data not found at {path}; set EMAFUSION_SHARED_DIR")
    return path
