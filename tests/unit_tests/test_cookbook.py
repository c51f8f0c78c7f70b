"""Every cookbook entry runs offline and shows what it promises."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


@pytest.mark.local_model
def test_private_and_public_members() -> None:
    result = runpy.run_path(str(COOKBOOK / "private_and_public_members.py"))["main"]()
    redacted, private = result["redacted"], result["private"]
    # The public member answered with a placeholder; the caller gets the real address back.
    assert redacted.content == "I have e-mailed jane.doe@example.com about the refund."
    assert redacted.response_metadata["fusion"]["models"] == ["public-api"]
    assert private.response_metadata["fusion"]["models"] == ["local-smollm2"]
    kinds = {(r.model, r.redacted) for r in result["audit"]}
    assert kinds == {("public-api", True), ("local-smollm2", False)}
    assert all(tuple(r.detector_kinds) == ("email",) for r in result["audit"])
