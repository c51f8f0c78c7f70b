"""Document folders and a deterministic embedder for the context tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

DIMENSION = 64


class HashingEmbeddings(Embeddings):
    """Bag-of-words vectors by hashing (no model): texts sharing words are near each other."""

    model_id = "hashing-test"

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(DIMENSION, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        norm = float(np.linalg.norm(vector)) or 1.0
        return [float(x) for x in vector / norm]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (hand-built: pypdf reads, it does not write text)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_docs(folder: Path) -> Path:
    """A small document folder: text, Markdown (in a subfolder), a PDF, an unsupported and a hidden file."""
    (folder / "policies").mkdir(parents=True)
    (folder / "refunds.txt").write_text(
        "Refund policy. Customers may return any product within 30 days for a full refund.\n",
        encoding="utf-8",
    )
    (folder / "policies" / "shipping.md").write_text(
        "# Shipping\n\nOrders ship from the Lyon warehouse within two business days.\n", encoding="utf-8"
    )
    (folder / "warranty.pdf").write_bytes(minimal_pdf("Warranty: every device is covered for 24 months."))
    (folder / "prices.csv").write_text("sku,price\n1,10\n", encoding="utf-8")
    (folder / ".notes.txt").write_text("hidden scratch notes", encoding="utf-8")
    return folder
