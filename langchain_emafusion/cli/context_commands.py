"""``emafusion index``: build the enterprise-context index that ``FusionChatModel(context=...)`` retrieves from.

:func:`register` adds the command to a Typer app; the context package (FAISS, the MiniLM embedder) is imported
inside the command so that starting the CLI stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

__all__ = ["register"]


def index(
    docs_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder of .txt, .md and .pdf documents (searched recursively).", file_okay=False
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the index to.", file_okay=False)],
    chunk_size: Annotated[int, typer.Option(help="Most characters per chunk.", min=1)] = 800,
    chunk_overlap: Annotated[
        int, typer.Option(help="Characters shared by neighbouring chunks.", min=0)
    ] = 100,
    index_type: Annotated[
        str, typer.Option("--index-type", help="auto (flat below 20,000 chunks, else IVF), flat or ivf.")
    ] = "auto",
) -> None:
    """Chunk the documents in DOCS_DIR, embed them with MiniLM and save a FAISS index to --out."""
    from langchain_emafusion.context.index import build_index

    console = Console()
    if index_type not in ("auto", "flat", "ivf"):
        raise error_exit(console, f"--index-type must be auto, flat or ivf, got {escape(index_type)!r}")
    try:
        report = build_index(
            docs_dir,
            out,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            index_type=index_type,  # type: ignore[arg-type]
        )
    except EmaFusionError as exc:
        raise error_exit(console, escape(str(exc))) from exc
    for skipped in report.skipped:
        console.print(f"[yellow]skipped:[/yellow] {escape(skipped)}")
    console.print(
        f"indexed {len(report.files)} file(s) into {report.chunks} chunks ({report.index_type} index) in "
        f"{escape(str(report.out_dir))}; embedding {report.chunks_per_s:.0f} chunks/s"
    )


def register(app: typer.Typer) -> None:
    """Add ``index`` to ``app``."""
    app.command("index")(index)
