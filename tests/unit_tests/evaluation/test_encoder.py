"""PromptEncoder: the real packaged MiniLM, offline (sockets are disabled in unit tests)."""

from __future__ import annotations

import os
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


class _CountingModel:
    """Stands in for the sentence-transformers model: a fixed vector per text, counting what it encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.array(
            [[float(len(text)), float(sum(map(ord, text)))] for text in texts], dtype=np.float32
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def get_embedding_dimension(self) -> int:
        return 2


def test_memory_cache_is_a_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_emafusion.routing.encoder import DEFAULT_MEMORY_CACHE_SIZE

    assert PromptEncoder().memory_cache_size == DEFAULT_MEMORY_CACHE_SIZE == 4096
    encoder = PromptEncoder(memory_cache_size=3)
    model = _CountingModel()
    monkeypatch.setattr(encoder, "_model", lambda: model)

    first = encoder.encode(["a", "bb", "ccc"])
    assert model.encoded == ["a", "bb", "ccc"] and len(encoder._memory) == 3
    encoder.encode(["a"])  # a hit: "a" is now the most recently used
    assert model.encoded == ["a", "bb", "ccc"]
    encoder.encode(["dddd"])  # full: the least recently used ("bb") is dropped
    assert len(encoder._memory) == 3
    hits = encoder.encode(["a", "ccc", "dddd"])  # all three still cached
    assert model.encoded == ["a", "bb", "ccc", "dddd"]
    assert np.array_equal(hits[:2], first[[0, 2]])
    encoder.encode(["bb"])  # evicted, so encoded again
    assert model.encoded == ["a", "bb", "ccc", "dddd", "bb"] and len(encoder._memory) == 3

    # One call may hold more distinct texts than the cache: every row is still its own text's vector.
    many = [f"text {i}" for i in range(10)]
    vectors = encoder.encode([*many, many[0]])
    assert vectors.shape == (11, 2) and np.array_equal(vectors[0], vectors[10])
    assert np.array_equal(vectors[:10], model.encode(many))
    assert len(encoder._memory) == 3

    uncached = PromptEncoder(memory_cache_size=0)
    monkeypatch.setattr(uncached, "_model", lambda: model)
    before = len(model.encoded)
    uncached.encode(["x"])
    uncached.encode(["x"])
    assert len(model.encoded) == before + 2 and len(uncached._memory) == 0
    with pytest.raises(ValueError, match="memory_cache_size"):
        PromptEncoder(memory_cache_size=-1)


def test_loading_the_model_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    PromptEncoder(layers=2).encode(["offline without touching os.environ"])
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
