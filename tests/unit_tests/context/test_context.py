"""Building and reading the enterprise-context index (deterministic embedder; one test with MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langchain_emafusion.cli.app import app
from langchain_emafusion.context import ContextIndexError, EnterpriseContext, build_index
from langchain_emafusion.context.index import CHUNKS_FILE, MANIFEST_FILE
from tests.unit_tests.context.helpers import HashingEmbeddings, write_docs


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    report = build_index(write_docs(tmp_path / "docs"), tmp_path / "index", embeddings=HashingEmbeddings())
    assert report.files == ["policies/shipping.md", "refunds.txt", "warranty.pdf"]
    assert any(s.startswith("prices.csv (unsupported type") for s in report.skipped)
    assert any(s.startswith(".notes.txt (hidden") for s in report.skipped)
    assert report.chunks == 3 and report.index_type == "flat"
    return tmp_path / "index"


def test_index_holds_every_chunk_with_its_source_and_no_pickle(index_dir: Path) -> None:
    rows = [json.loads(line) for line in (index_dir / CHUNKS_FILE).read_text().splitlines()]
    assert {row["metadata"]["source"] for row in rows} == {
        "policies/shipping.md",
        "refunds.txt",
        "warranty.pdf",
    }
    pdf = next(row for row in rows if row["metadata"]["source"] == "warranty.pdf")
    assert pdf["metadata"]["page"] == 1 and "24 months" in pdf["text"]
    manifest = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert manifest["embedding_model"] == "hashing-test" and manifest["chunks"] == 3
    assert sorted(p.name for p in index_dir.iterdir()) == ["chunks.jsonl", "index.faiss", "manifest.json"]


def test_retrieval_finds_the_right_document_and_loads_lazily_once(index_dir: Path) -> None:
    context = EnterpriseContext(index_dir, k=1, embeddings=HashingEmbeddings())
    assert not context.is_loaded
    [(document, score)] = context.retrieve("how many days for a refund")
    assert document.metadata["source"] == "refunds.txt" and 0 < score <= 1.0001
    assert context.is_loaded
    other = EnterpriseContext(index_dir, embeddings=HashingEmbeddings())
    assert other.vector_store is context.vector_store  # read once per process
    sources = [
        EnterpriseContext.describe(d, s)["source"] for d, s in other.retrieve("warehouse ship orders", k=3)
    ]
    assert sources[0] == "policies/shipping.md" and len(sources) == 3


def test_long_documents_are_chunked(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.md").write_text("\n\n".join(f"Paragraph {i} about topic {i}." * 5 for i in range(40)))
    report = build_index(
        docs, tmp_path / "index", embeddings=HashingEmbeddings(), chunk_size=200, chunk_overlap=20
    )
    assert report.chunks > 20
    rows = [json.loads(line) for line in (tmp_path / "index" / CHUNKS_FILE).read_text().splitlines()]
    assert all(len(row["text"]) <= 200 for row in rows)
    assert [row["metadata"]["chunk"] for row in rows] == list(range(report.chunks))


def test_ivf_index_type_retrieves_too(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(60):
        (docs / f"d{i}.txt").write_text(f"document number {i} speaks of subject{i} and subject{i} again")
    report = build_index(docs, tmp_path / "index", embeddings=HashingEmbeddings(), index_type="ivf")
    assert report.index_type == "ivf"
    [(document, _)] = EnterpriseContext(tmp_path / "index", k=1, embeddings=HashingEmbeddings()).retrieve(
        "subject17 subject17"
    )
    assert document.metadata["source"] == "d17.txt"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "document folder not found"),
        (lambda d: d.mkdir(), "no documents to index"),
        (lambda d: (d.mkdir(), (d / "x.csv").write_text("a")), "skipped: x.csv"),
        (lambda d: (d.mkdir(), (d / "bad.txt").write_bytes(b"\xff\xfe\x00bad")), "not UTF-8"),
        (lambda d: (d.mkdir(), (d / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")), "cannot read PDF bad.pdf"),
    ],
)
def test_unusable_document_folders_raise_a_clear_error(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    setup(docs)
    with pytest.raises(ContextIndexError, match=message):
        build_index(docs, tmp_path / "index", embeddings=HashingEmbeddings())


def test_bad_chunking_and_missing_or_mismatched_index_are_refused(tmp_path: Path, index_dir: Path) -> None:
    with pytest.raises(ContextIndexError, match="chunk_overlap < chunk_size"):
        build_index(tmp_path, tmp_path / "x", embeddings=HashingEmbeddings(), chunk_size=10, chunk_overlap=10)
    with pytest.raises(ContextIndexError, match="holds no context index"):
        EnterpriseContext(tmp_path / "nowhere")

    class OtherEmbeddings(HashingEmbeddings):
        model_id = "another-model"

    with pytest.raises(ContextIndexError, match="built with embedding model 'hashing-test'"):
        EnterpriseContext(index_dir, embeddings=OtherEmbeddings()).retrieve("refund")


def test_cli_index_command_with_the_minilm_embedder(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    result = CliRunner().invoke(
        app, ["index", str(docs), "--out", str(tmp_path / "index"), "--chunk-size", "300"]
    )
    assert result.exit_code == 0, result.output
    assert "indexed 3 file(s) into 3 chunks (flat index)" in result.output
    assert "skipped: prices.csv" in result.output
    manifest = json.loads((tmp_path / "index" / MANIFEST_FILE).read_text())
    assert manifest["dimension"] == 384
    [(document, _)] = EnterpriseContext(tmp_path / "index", k=1).retrieve(
        "How long is a device under warranty?"
    )
    assert document.metadata["source"] == "warranty.pdf"


def test_cli_index_command_reports_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["index", str(tmp_path / "empty"), "--out", str(tmp_path / "index")])
    assert result.exit_code == 2 and "no documents to index" in result.output
    result = CliRunner().invoke(
        app, ["index", str(tmp_path), "--out", str(tmp_path / "i"), "--index-type", "hnsw"]
    )
    assert result.exit_code == 2 and "--index-type" in result.output


def test_a_rebuilt_index_is_read_again(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    build_index(docs, tmp_path / "index", embeddings=HashingEmbeddings())
    context = EnterpriseContext(tmp_path / "index", embeddings=HashingEmbeddings())
    first = context.vector_store
    assert context.vector_store is first
    (docs / "new.txt").write_text("Gift cards never expire.", encoding="utf-8")
    build_index(docs, tmp_path / "index", embeddings=HashingEmbeddings())
    assert not context.is_loaded
    assert context.vector_store is not first and context.vector_store.index.ntotal == 4
