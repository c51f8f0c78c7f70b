"""Build an enterprise-context index: read a folder of documents, chunk them, embed them, save a FAISS index.

The index folder holds ``index.faiss`` (the FAISS index, inner product over normalized MiniLM vectors, so
cosine similarity), ``chunks.jsonl`` (each chunk's text and its source) and ``manifest.json`` (embedding model,
dimension, chunking, counts). Nothing is pickled: loading an index never executes code from the folder.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_emafusion.context.errors import ContextIndexError

__all__ = [
    "CHUNKS_FILE",
    "INDEX_FILE",
    "MANIFEST_FILE",
    "SUPPORTED_SUFFIXES",
    "IndexBuildReport",
    "build_index",
    "faiss_index_for",
    "load_documents",
    "write_index",
]

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf")
IndexType = Literal["auto", "flat", "ivf"]
IVF_MIN_CHUNKS = 20_000
"""With ``index_type="auto"``, an exact flat index below this many chunks, an IVF index from it on."""


@dataclass
class IndexBuildReport:
    """What ``build_index`` did: files read and skipped, chunks, timings."""

    out_dir: Path
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Files under the folder that were not indexed (unsupported suffix), each with the reason."""
    chunks: int = 0
    index_type: str = "flat"
    load_s: float = 0.0
    embed_s: float = 0.0
    index_s: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        """Embedding throughput of the build."""
        return self.chunks / self.embed_s if self.embed_s > 0 else math.inf


def load_documents(docs_dir: Path) -> tuple[list[Document], list[str]]:
    """Read every .txt/.md/.pdf file under ``docs_dir`` (recursively), one Document per text file or PDF page.

    Returns:
        The documents (``metadata["source"]`` is the path relative to ``docs_dir``; PDFs add ``page``, 1-based)
        and the skipped files, each with the reason.

    Raises:
        ContextIndexError: The folder does not exist, holds no supported file, or a file cannot be read.
    """
    if not docs_dir.is_dir():
        raise ContextIndexError(f"document folder not found: {docs_dir}")
    documents: list[Document] = []
    skipped: list[str] = []
    for path in sorted(p for p in docs_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(docs_dir).as_posix()
        if any(part.startswith(".") for part in path.relative_to(docs_dir).parts):
            skipped.append(f"{relative} (hidden)")
            continue
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            skipped.append(f"{relative} (unsupported type; indexed: {', '.join(SUPPORTED_SUFFIXES)})")
            continue
        try:
            if suffix == ".pdf":
                documents.extend(_pdf_pages(path, relative))
            else:
                text = path.read_text(encoding="utf-8")
                documents.append(Document(page_content=text, metadata={"source": relative}))
        except UnicodeDecodeError as exc:
            raise ContextIndexError(f"{relative} is not UTF-8 text ({exc}); convert it or remove it") from exc
        except OSError as exc:
            raise ContextIndexError(f"cannot read {relative}: {exc}") from exc
    if not documents:
        raise ContextIndexError(
            f"no documents to index under {docs_dir}: it holds no {', '.join(SUPPORTED_SUFFIXES)} file"
            + (f" (skipped: {', '.join(skipped)})" if skipped else "")
        )
    return documents, skipped


def _pdf_pages(path: Path, relative: str) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ContextIndexError(f"cannot read PDF {relative}: {exc}") from exc
    return [
        Document(page_content=text, metadata={"source": relative, "page": number})
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]


def faiss_index_for(vectors: np.ndarray, index_type: IndexType = "auto") -> tuple[Any, str]:
    """An inner-product FAISS index holding ``vectors`` (rows L2-normalized), and its kind.

    ``flat`` is exact; ``ivf`` (an inverted file over ``≈ 4·√n`` k-means cells, 32 probed per query) keeps a
    lookup in 100k chunks to about a millisecond at some recall cost (see ``benchmarks/results/context.md``).
    """
    import faiss

    count, dimension = vectors.shape
    if index_type == "auto":
        index_type = "ivf" if count >= IVF_MIN_CHUNKS else "flat"
    index: Any
    if index_type == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif index_type == "ivf":
        cells = max(
            1, min(int(4 * math.sqrt(count)), count // 39)
        )  # FAISS wants ~39 training points per cell
        index = faiss.index_factory(dimension, f"IVF{cells},Flat", faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(32, cells)
    else:
        raise ContextIndexError(f"index_type must be 'auto', 'flat' or 'ivf', got {index_type!r}")
    index.add(vectors)
    return index, index_type


def build_index(
    docs_dir: str | Path,
    out_dir: str | Path,
    *,
    embeddings: Embeddings | None = None,
    chunk_size: int = 800,
    chunk_overlap: int = 100,
    index_type: IndexType = "auto",
) -> IndexBuildReport:
    """Index the documents under ``docs_dir`` into ``out_dir`` (created; an existing index there is replaced).

    Args:
        docs_dir: Folder of .txt, .md and .pdf files (searched recursively).
        out_dir: Folder to write the index to.
        embeddings: The embedder (default: :class:`~langchain_emafusion.context.embeddings.MiniLMEmbeddings`).
        chunk_size: Most characters per chunk (langchain-text-splitters' recursive splitter).
        chunk_overlap: Characters shared by neighbouring chunks.
        index_type: ``"flat"`` (exact), ``"ivf"`` (approximate, fast on large sets) or ``"auto"``.

    Raises:
        ContextIndexError: Unusable folder or files, bad chunk sizes, or an out_dir that is a file.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if chunk_size < 1 or not 0 <= chunk_overlap < chunk_size:
        raise ContextIndexError(
            f"need chunk_size >= 1 and 0 <= chunk_overlap < chunk_size, got {chunk_size} and {chunk_overlap}"
        )
    docs_path, out_path = Path(docs_dir), Path(out_dir)
    if out_path.exists() and not out_path.is_dir():
        raise ContextIndexError(f"--out {out_path} is a file; give a folder")
    if embeddings is None:
        from langchain_emafusion.context.embeddings import MiniLMEmbeddings

        embeddings = MiniLMEmbeddings()
    started = time.perf_counter()
    documents, skipped = load_documents(docs_path)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks = [chunk for chunk in splitter.split_documents(documents) if chunk.page_content.strip()]
    for number, chunk in enumerate(chunks):
        chunk.metadata["chunk"] = number
    report = IndexBuildReport(
        out_dir=out_path,
        files=sorted({str(d.metadata["source"]) for d in documents}),
        skipped=skipped,
        chunks=len(chunks),
        load_s=time.perf_counter() - started,
    )
    started = time.perf_counter()
    vectors = np.asarray(embeddings.embed_documents([c.page_content for c in chunks]), dtype=np.float32)
    report.embed_s = time.perf_counter() - started
    started = time.perf_counter()
    index, report.index_type = faiss_index_for(vectors, index_type)
    write_index(out_path, index, chunks, embeddings, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    report.index_s = time.perf_counter() - started
    return report


def write_index(
    out_dir: Path,
    index: Any,
    chunks: Sequence[Document],
    embeddings: Embeddings,
    *,
    chunk_size: int,
    chunk_overlap: int,
) -> None:
    """Write ``index`` and its chunks to ``out_dir`` in the layout :class:`EnterpriseContext` reads."""
    import faiss

    out_dir.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out_dir / INDEX_FILE))
    with (out_dir / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps({"text": chunk.page_content, "metadata": chunk.metadata}) + "\n")
    manifest = {
        "format": 1,
        "embedding_model": getattr(embeddings, "model_id", type(embeddings).__name__),
        "dimension": int(index.d),
        "chunks": len(chunks),
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "metric": "inner_product",
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
