"""Shared by the tier-1 benchmarks: the converted llmrouter split (cached) and a trained predictor."""

from __future__ import annotations

from langchain_emafusion.evaluation.converters import convert_llmrouter, default_shared_dir
from langchain_emafusion.evaluation.table import OutcomeTable, read_outcomes, write_outcomes
from langchain_emafusion.pool.weights import cache_dir
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir
from langchain_emafusion.tier1.features import PromptFeaturizer
from langchain_emafusion.tier1.predictor import Tier1Predictor

CACHE = cache_dir() / "benchmarks"


def encoder() -> PromptEncoder:
    """An encoder with the on-disk embedding cache (re-runs skip MiniLM)."""
    return PromptEncoder(cache_dir=default_embedding_cache_dir())


def llmrouter_split() -> tuple[OutcomeTable, OutcomeTable]:
    """The llmrouter train and test tables, converted once and cached."""
    folder = CACHE / "llmrouter"
    train_path, test_path = folder / "train.jsonl", folder / "test.jsonl"
    if not (train_path.is_file() and test_path.is_file()):
        data = default_shared_dir() / "data"
        write_outcomes(convert_llmrouter(data, split="train"), train_path)
        write_outcomes(convert_llmrouter(data, split="test"), test_path)
    return read_outcomes(train_path), read_outcomes(test_path)


def llmrouter_predictor(shared_encoder: PromptEncoder) -> Tier1Predictor:
    """The tier-1 predictor trained on llmrouter's train split (benchmarks/routing.py's, else trained here)."""
    for folder in (CACHE / "llmrouter" / "policy", CACHE / "llmrouter" / "tier1-benchmark"):
        if (folder / "tier1.json").is_file():
            return Tier1Predictor.load(folder, encoder=shared_encoder)
    train, _ = llmrouter_split()
    predictor = Tier1Predictor.fit(
        train, featurizer=PromptFeaturizer(encoder=shared_encoder), show_progress=True
    )
    predictor.save(folder)
    return predictor
