"""The ``emafusion`` command line: chat on a pool, and (from the evaluation package) train and eval."""

from __future__ import annotations

from langchain_emafusion.cli.app import app, main

__all__ = ["app", "main"]
