"""PromptEncoder: the real packaged MiniLM, offline (sockets are disabled in unit tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from langchain_emafusion.routing.encoder import PromptEncoder


def test_encodes_normalized_vectors_and_similar_texts_are_close() -> None:
    encoder = PromptEncoder()
    vectors = encoder.encode(["What is 2 plus 2?", "Compute 3 plus 5.", "Who painted the Mona Lisa?"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]
    assert encoder.dimension == 384


def test_memory_and_disk_caches_avoid_re_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["alpha prompt", "beta prompt", "alpha prompt"]
    first = PromptEncoder(cache_dir=tmp_path, disk_cache_min_texts=3).encode(texts)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert np.array_equal(first[0], first[2])

    fresh = PromptEncoder(cache_dir=tmp_path, disk_cache_min_texts=3)

    def no_model() -> None:
        raise AssertionError("the disk cache should have been used")

    monkeypatch.setattr(fresh, "_model", no_model)
    assert np.array_equal(fresh.encode(texts), first)
    # The disk hit also filled the memory cache: a subset is served without the model.
    assert np.array_equal(fresh.encode(["beta prompt"])[0], first[1])
    assert len(list(tmp_path.glob("*.npy"))) == 1  # a list shorter than the minimum is not written to disk


def test_importing_the_package_and_evaluation_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, langchain_emafusion, langchain_emafusion.evaluation, langchain_emafusion.routing.encoder;"
        "import langchain_emafusion.evaluation.baselines, langchain_emafusion.cli.evaluation_commands;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'sklearn', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
