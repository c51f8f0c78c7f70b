"""`EnterpriseContext`: top-k retrieval from an index written by ``emafusion index``, loaded lazily, once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_emafusion.context.errors import ContextIndexError
from langchain_emafusion.context.index import CHUNKS_FILE, INDEX_FILE, MANIFEST_FILE

__all__ = ["EnterpriseContext"]

_LOADED: dict[tuple[Path, int], Any] = {}
_LOAD_LOCK = threading.Lock()


class EnterpriseContext:
    """Retrieve the chunks of an enterprise document index most similar to a text.

    The FAISS index and its chunks are read on the first :meth:`retrieve`, once per process for a folder
    (every ``EnterpriseContext`` over the same folder shares them), never at construction.

    Example:
        .. code-block:: python

            context = EnterpriseContext("index/")
            for document, score in context.retrieve("What is our refund policy?", k=3):
                print(document.metadata["source"], score)
    """

    def __init__(self, path: str | Path, *, k: int = 3, embeddings: Embeddings | None = None) -> None:
        """Point at an index folder; nothing is read here beyond checking that the folder holds an index.

        Args:
            path: Folder written by ``emafusion index`` (or :func:`~langchain_emafusion.context.index.build_index`).
            k: Chunks returned per query by default.
            embeddings: The query embedder; it must be the model the index was built with (default MiniLM).

        Raises:
            ContextIndexError: The folder holds no index, or ``k`` < 1.
        """
        self.path = Path(path).resolve()
        if not (self.path / MANIFEST_FILE).is_file() or not (self.path / INDEX_FILE).is_file():
            raise ContextIndexError(
                f"{path} holds no context index ({MANIFEST_FILE} and {INDEX_FILE} expected): build one with "
                "`emafusion index DOCS_DIR --out INDEX_DIR`"
            )
        if k < 1:
            raise ContextIndexError(f"k must be >= 1, got {k}")
        self.k = k
        self._embeddings = embeddings

    @property
    def embeddings(self) -> Embeddings:
        """The query embedder."""
        if self._embeddings is None:
            from langchain_emafusion.context.embeddings import MiniLMEmbeddings

            self._embeddings = MiniLMEmbeddings()
        return self._embeddings

    def _key(self) -> tuple[Path, int]:
        # A rebuilt index (new manifest) is read again; an unchanged one is read once per process.
        return self.path, (self.path / MANIFEST_FILE).stat().st_mtime_ns

    @property
    def is_loaded(self) -> bool:
        """Whether this folder's index, as it is now on disk, has been read in this process."""
        return self._key() in _LOADED

    @property
    def vector_store(self) -> Any:
        """The langchain-community ``FAISS`` store over the index (read on first use, then shared)."""
        key = self._key()
        with _LOAD_LOCK:
            if key not in _LOADED:
                for stale in [k for k in _LOADED if k[0] == self.path]:
                    del _LOADED[stale]
                _LOADED[key] = self._load()
            return _LOADED[key]

    def _load(self) -> Any:
        import faiss

        from langchain_emafusion.context._faiss import community

        faiss_store, docstore_cls, distance = community()
        manifest = json.loads((self.path / MANIFEST_FILE).read_text(encoding="utf-8"))
        model_id = getattr(self.embeddings, "model_id", None)
        if model_id is not None and manifest.get("embedding_model") not in (None, model_id):
            raise ContextIndexError(
                f"{self.path} was built with embedding model {manifest['embedding_model']!r}, but queries "
                f"would be embedded with {model_id!r}; rebuild it with `emafusion index`"
            )
        index = faiss.read_index(str(self.path / INDEX_FILE))
        documents: dict[str, Document] = {}
        with (self.path / CHUNKS_FILE).open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                row = json.loads(line)
                documents[str(number)] = Document(page_content=row["text"], metadata=row["metadata"])
        if len(documents) != index.ntotal:
            raise ContextIndexError(
                f"{self.path} is inconsistent: {index.ntotal} vectors but {len(documents)} chunks; rebuild it"
            )
        return faiss_store(
            embedding_function=self.embeddings,
            index=index,
            docstore=docstore_cls(documents),
            index_to_docstore_id={i: str(i) for i in range(len(documents))},
            distance_strategy=distance.MAX_INNER_PRODUCT,
        )

    def retrieve(self, query: str, k: int | None = None) -> list[tuple[Document, float]]:
        """The ``k`` chunks most similar to ``query`` with their cosine similarity, best first."""
        store = self.vector_store
        vector = self.embeddings.embed_query(query)
        found = store.similarity_search_with_score_by_vector(vector, k=k or self.k)
        return [(document, float(score)) for document, score in found]

    @staticmethod
    def describe(document: Document, score: float) -> dict[str, Any]:
        """The source record metadata reports for a retrieved chunk (file, page, chunk number, similarity)."""
        record: dict[str, Any] = {
            "source": document.metadata.get("source"),
            "chunk": document.metadata.get("chunk"),
        }
        if "page" in document.metadata:
            record["page"] = document.metadata["page"]
        record["score"] = round(score, 4)
        return record
