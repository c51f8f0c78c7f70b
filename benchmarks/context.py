"""Enterprise context: FAISS lookup latency on 100k chunks, and index build throughput with MiniLM.

1. Build: `build_index` (the code behind `emafusion index`) over a generated folder of text documents, embedded
   with the packaged all-MiniLM-L6-v2: chunks per second (embedding) and total build time.
2. Lookup: 100,000 chunk vectors (synthetic, 384 dimensions, clustered like topic embeddings: embedding 100k
   chunks with MiniLM here would take ~10 min and measure the embedder again, not the lookup) written in the
   index layout and read back through `EnterpriseContext`, i.e. langchain-community's FAISS store. p50/p95
   of `similarity_search_with_score_by_vector` (k=3) for the exact flat index and for the IVF index that
   `index_type="auto"` picks at this size, with the IVF's recall@3 against the exact result; plus the MiniLM
   query-embedding time that a retrieval adds.

Run: .venv/bin/python benchmarks/context.py [--chunks 100000] [--queries 300]
Writes benchmarks/results/context.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from langchain_emafusion.context import EnterpriseContext, build_index
from langchain_emafusion.context.embeddings import MiniLMEmbeddings
from langchain_emafusion.context.index import faiss_index_for, write_index

RESULTS = Path(__file__).parent / "results" / "context.md"
DIMENSION = 384
TOPICS = ["refund", "shipping", "warranty", "invoice", "privacy", "onboarding", "security", "pricing"]


def build_throughput(folder: Path, documents: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    docs = folder / "docs"
    docs.mkdir()
    words = "customer order product policy days team account contract support service data report".split()
    for number in range(documents):
        topic = TOPICS[number % len(TOPICS)]
        paragraphs = [" ".join([topic, *rng.choice(words, size=60)]).capitalize() + "." for _ in range(6)]
        (docs / f"{topic}-{number}.md").write_text(f"# {topic} {number}\n\n" + "\n\n".join(paragraphs))
    embeddings = MiniLMEmbeddings()
    embeddings.embed_query("warm up")  # model load is not build throughput
    started = time.perf_counter()
    report = build_index(docs, folder / "index", embeddings=embeddings, chunk_size=800, chunk_overlap=100)
    total = time.perf_counter() - started
    return {
        "documents": documents,
        "chunks": report.chunks,
        "embed_chunks_per_s": report.chunks_per_s,
        "total_s": total,
        "total_chunks_per_s": report.chunks / total,
    }


def synthetic_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((1000, DIMENSION)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), count)] + 0.35 * rng.standard_normal(
        (count, DIMENSION)
    ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def lookup(folder: Path, count: int, queries: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(1)
    vectors = synthetic_vectors(count, rng)
    probes = vectors[rng.integers(0, count, queries)] + 0.2 * rng.standard_normal(
        (queries, DIMENSION)
    ).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    chunks = [
        Document(page_content=f"chunk {i}", metadata={"source": f"doc{i // 10}.md", "chunk": i})
        for i in range(count)
    ]
    embeddings = MiniLMEmbeddings()
    results: dict[str, dict[str, float]] = {}
    exact: list[set[int]] = []
    for kind in ("flat", "ivf"):
        started = time.perf_counter()
        index, _ = faiss_index_for(vectors, kind)  # type: ignore[arg-type]
        build_s = time.perf_counter() - started
        path = folder / f"index-{kind}"
        write_index(path, index, chunks, embeddings, chunk_size=800, chunk_overlap=100)
        store = EnterpriseContext(path, k=3, embeddings=embeddings).vector_store
        times, found = [], []
        for probe in probes:
            started = time.perf_counter()
            hits = store.similarity_search_with_score_by_vector(probe.tolist(), k=3)
            times.append(time.perf_counter() - started)
            found.append({int(document.metadata["chunk"]) for document, _ in hits})
        if kind == "flat":
            exact = found
        recall = statistics.mean(len(a & b) / 3 for a, b in zip(found, exact, strict=True))
        times.sort()
        results[kind] = {
            "p50_ms": 1000 * times[len(times) // 2],
            "p95_ms": 1000 * times[int(len(times) * 0.95)],
            "recall_at_3": recall,
            "build_s": build_s,
        }
    started_all = []
    for text in [f"What is our {topic} policy for enterprise customers?" for topic in TOPICS] * 5:
        started = time.perf_counter()
        embeddings.embed_query(text + str(len(started_all)))  # distinct texts: no cache hit
        started_all.append(time.perf_counter() - started)
    results["query_embedding"] = {"p50_ms": 1000 * statistics.median(started_all)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--documents", type=int, default=300, help="generated documents for the build test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = build_throughput(Path(tmp), args.documents)
        print("build:", build)
        found = lookup(Path(tmp), args.chunks, args.queries)
        print("lookup:", found)
    flat, ivf = found["flat"], found["ivf"]
    lines = [
        "# Enterprise context (FAISS + MiniLM), this 2-core machine (shared with other jobs while measured)",
        "",
        f"Lookup: {args.chunks:,} chunk vectors (synthetic, 384-d, clustered), {args.queries} queries, k=3, "
        "through `EnterpriseContext` (langchain-community FAISS store). Target: p50 <= 5 ms.",
        "",
        "| index | p50 ms | p95 ms | recall@3 vs exact | build s |",
        "|---|---|---|---|---|",
        f"| flat (exact) | {flat['p50_ms']:.2f} | {flat['p95_ms']:.2f} | 1.000 | {flat['build_s']:.1f} |",
        f'| IVF (`index_type="auto"` at this size) | {ivf["p50_ms"]:.2f} | {ivf["p95_ms"]:.2f} | '
        f"{ivf['recall_at_3']:.3f} | {ivf['build_s']:.1f} |",
        "",
        f"A retrieval also embeds the query with MiniLM: p50 {found['query_embedding']['p50_ms']:.1f} ms.",
        "",
        f"Build (`emafusion index` code path): {build['documents']} generated Markdown documents -> "
        f"{build['chunks']} chunks of <= 800 characters; MiniLM embedding {build['embed_chunks_per_s']:.0f} "
        f"chunks/s, whole build {build['total_s']:.1f} s ({build['total_chunks_per_s']:.0f} chunks/s including "
        "reading, splitting and writing).",
        "",
        "Reproduce: `.venv/bin/python benchmarks/context.py`",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
