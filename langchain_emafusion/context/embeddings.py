"""`MiniLMEmbeddings`: LangChain ``Embeddings`` over the package's offline all-MiniLM-L6-v2 encoder."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["MiniLMEmbeddings"]


class MiniLMEmbeddings(Embeddings):
    """Embed texts with all-MiniLM-L6-v2 (384 dimensions, L2-normalized), loaded offline from its package.

    Vectors are normalized, so an inner-product index ranks by cosine similarity. The model loads on the first
    call, once per process (it is shared with the tier-1 router's encoder).

    Example:
        .. code-block:: python

            from langchain_community.vectorstores import FAISS

            store = FAISS.from_texts(["refund policy: 30 days"], MiniLMEmbeddings())
    """

    def __init__(self, encoder: PromptEncoder | None = None) -> None:
        """Use ``encoder``, or the process-wide shared one (memory cache only)."""
        self._encoder = encoder

    @property
    def encoder(self) -> PromptEncoder:
        """The prompt encoder in use."""
        if self._encoder is None:
            self._encoder = PromptEncoder.shared()
        return self._encoder

    @property
    def model_id(self) -> str:
        """Name of the embedding model folder, recorded in an index so a mismatch is caught at load."""
        return self.encoder.model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed document chunks."""
        return [[float(x) for x in row] for row in self.encoder.encode(texts)]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return [float(x) for x in self.encoder.encode([text])[0]]
