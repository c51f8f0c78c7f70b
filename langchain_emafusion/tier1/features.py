"""Prompt features for the tier-1 predictor: what distinguishes one prompt from another.

Real prompts often share a long fixed prefix (a system prompt, few-shot examples, a template) and differ only
near the end, while all-MiniLM-L6-v2 reads only its first 256 word pieces. So a prompt is described by:

- the embeddings of its **head** (the first ~64 words) and its **end** (its last paragraph or last ~64 words,
  where the actual question usually is, even behind a long shared template), and optionally of its **tail**
  (the last ~160 words) — identical for short prompts;
- **hashed word n-grams** of the tail (unigrams and bigrams into a fixed number of buckets, log counts,
  L2-normalized), which catch lexical cues (option letters, code keywords, numbers) the embedding blurs;
- a few **shape features**: log length in characters and words, share of digits, of punctuation and of
  upper-case letters, and code / multiple-choice markers.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["FeatureConfig", "PromptFeaturizer", "split_head_tail", "end_segment"]

_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CODE_RE = re.compile(r"```|\bdef |\breturn\b|\bclass |;\s*$|\{\s*$|=>|#include", re.MULTILINE)
_CHOICE_RE = re.compile(r"^[ \t]*\(?[A-Ea-e][).:]\s", re.MULTILINE)  # line-anchored: linear in the text


@dataclass(frozen=True)
class FeatureConfig:
    """How prompts become feature vectors; saved with a trained predictor so serving matches training."""

    head_words: int = 64
    """Words embedded as the head (MiniLM reads ~256 word pieces, about 180 words; fewer is faster)."""
    tail_words: int = 160
    """Words embedded as the tail."""
    end_words: int = 64
    """Most words embedded as the end (the last paragraph, else the last this many words).

    64 rather than 32 keeps whole one-paragraph questions (a GSM8K problem is 40–100 words); with three encoder
    layers it still fits the decision budget, and it gave a lower validation loss on all three shared datasets."""
    ngram_buckets: int = 1024
    """Hash buckets for tail unigrams and bigrams."""
    ngram_tail_words: int = 400
    """Words at the end of the prompt whose n-grams are hashed."""
    use_embeddings: bool = True
    """Include sentence embeddings (off only for tests and ablations)."""
    embedded_segments: tuple[str, ...] = ("end",)
    """Which segments are embedded, in order (any of ``head``, ``tail``, ``end``); fewer is faster to serve.

    The end alone (with the hashed n-grams and shape features, which still read the tail) is what fits tier 1's
    15 ms decision budget on one CPU core with room to spare; adding the head costs one more MiniLM pass for AUC
    changes within ±0.007 on the shared benchmarks (see benchmarks/results/overhead.md)."""

    quantized_encoder: bool = True
    """Embed with the int8 copy of MiniLM (about twice as fast per prompt on a CPU core; see ``PromptEncoder``)."""
    encoder_layers: int | None = 3
    """Run only MiniLM's first layers (None: all six); fewer is proportionally faster to serve.

    Three int8 layers embed a 32-word end segment in ~4.5 ms on one core here (six: ~9 ms). Trained on, they
    gave a lower validation loss than six on all three shared datasets and test AUCs within ±0.005 of six's
    (``benchmarks/results/overhead.md`` and the issue-4 note)."""

    def __post_init__(self) -> None:
        # JSON round trips turn the tuple into a list; keep the config hashable and comparable.
        object.__setattr__(self, "embedded_segments", tuple(self.embedded_segments))
        unknown = set(self.embedded_segments) - set(SEGMENTS)
        if unknown or not self.embedded_segments:
            raise ValueError(
                f"embedded_segments must be a non-empty subset of {SEGMENTS}, got {self.embedded_segments}"
            )

    def to_dict(self) -> dict[str, int | bool | None]:
        """Serializable form."""
        return asdict(self)


N_SHAPE_FEATURES = 7
SEGMENTS = ("head", "tail", "end")


def split_head_tail(text: str, head_words: int, tail_words: int) -> tuple[str, str]:
    """Return the first ``head_words`` and the last ``tail_words`` whitespace-separated words of ``text``."""
    words = text.split()
    head = text if len(words) <= head_words else " ".join(words[:head_words])
    tail = text if len(words) <= tail_words else " ".join(words[-tail_words:])
    return head, tail


def end_segment(text: str, end_words: int) -> str:
    """The prompt's last paragraph when it is a plausible question (4 to ``end_words`` words), else its last words.

    Templates usually put the part that changes after a blank line; a tiny last paragraph ("Answer:") or a
    huge one falls back to the last ``end_words`` words.
    """
    last_paragraph = text.rstrip().rsplit("\n\n", 1)[-1]
    if 4 <= len(last_paragraph.split()) <= end_words:
        return last_paragraph
    return split_head_tail(text, 0, end_words)[1]


def _shape_features(text: str) -> np.ndarray:
    n_chars = max(len(text), 1)
    digits = sum(c.isdigit() for c in text)
    upper = sum(c.isupper() for c in text)
    punct = sum((not c.isalnum()) and (not c.isspace()) for c in text)
    return np.array(
        [
            math.log1p(len(text)) / 10.0,
            math.log1p(len(text.split())) / 8.0,
            digits / n_chars,
            upper / n_chars,
            punct / n_chars,
            1.0 if _CODE_RE.search(text) else 0.0,
            1.0 if len(_CHOICE_RE.findall(text)) >= 2 else 0.0,
        ],
        dtype=np.float32,
    )


def _hashed_ngrams(text: str, buckets: int, tail_words: int) -> np.ndarray:
    tokens = _WORD_RE.findall(text.lower())[-tail_words:]
    vector = np.zeros(buckets, dtype=np.float32)
    # crc32 is stable across processes (Python's hash() is salted per process).
    for token in tokens:
        vector[zlib.crc32(token.encode("utf-8")) % buckets] += 1.0
    for first, second in zip(tokens, tokens[1:], strict=False):
        vector[zlib.crc32(f"{first} {second}".encode()) % buckets] += 1.0
    np.log1p(vector, out=vector)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class PromptFeaturizer:
    """Turn prompts into fixed-size float32 feature vectors (see the module docstring for what is in them)."""

    def __init__(self, config: FeatureConfig | None = None, encoder: PromptEncoder | None = None) -> None:
        """Create a featurizer; the encoder's model loads on first use.

        Args:
            config: Feature settings (default: :class:`FeatureConfig`).
            encoder: Sentence encoder (default: the process-wide all-MiniLM-L6-v2 encoder).
        """
        self.config = config or FeatureConfig()
        self._encoder = encoder

    @property
    def encoder(self) -> PromptEncoder:
        """The sentence encoder."""
        if self._encoder is None:
            self._encoder = PromptEncoder.shared()
        # Serving must embed exactly as training did: the configured precision wins over the given encoder's.
        return self._encoder.variant(
            quantized=self.config.quantized_encoder, layers=self.config.encoder_layers
        )

    @property
    def embedding_dimension(self) -> int:
        """Width of the sentence-embedding block at the start of a feature vector (0 without embeddings)."""
        return 384 * len(self.config.embedded_segments) if self.config.use_embeddings else 0

    @property
    def dimension(self) -> int:
        """Length of a feature vector."""
        return self.embedding_dimension + self.config.ngram_buckets + N_SHAPE_FEATURES

    def lexical(self, prompts: Sequence[str]) -> np.ndarray:
        """The n-gram and shape features only, shape (n, buckets + shape features)."""
        cfg = self.config
        return (
            np.stack(
                [
                    np.concatenate(
                        [_hashed_ngrams(p, cfg.ngram_buckets, cfg.ngram_tail_words), _shape_features(p)]
                    )
                    for p in prompts
                ]
            )
            if prompts
            else np.zeros((0, cfg.ngram_buckets + N_SHAPE_FEATURES), dtype=np.float32)
        )

    def transform(self, prompts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Feature vectors of ``prompts``, shape (n, :attr:`dimension`), float32."""
        lexical = self.lexical(prompts)
        if not self.config.use_embeddings:
            return lexical
        cfg = self.config
        segments: dict[str, list[str]] = {"head": [], "tail": [], "end": []}
        for prompt in prompts:
            head, tail = split_head_tail(prompt, cfg.head_words, cfg.tail_words)
            segments["head"].append(head)
            segments["tail"].append(tail)
            segments["end"].append(end_segment(prompt, cfg.end_words))
        texts = [text for name in cfg.embedded_segments for text in segments[name]]
        # One encoder call for all segments; a short prompt's identical segments are encoded once.
        vectors = self.encoder.encode(texts, show_progress=show_progress)
        n = len(prompts)
        parts = [vectors[i * n : (i + 1) * n] for i in range(len(cfg.embedded_segments))]
        return np.concatenate([*parts, lexical], axis=1).astype(np.float32, copy=False)
