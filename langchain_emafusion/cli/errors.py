"""How the ``emafusion`` commands fail: an ``error:`` line on the console, then exit code 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["error_exit"]


def error_exit(
    console: Console, message: str, *, highlight: bool | None = None, soft_wrap: bool | None = None
) -> typer.Exit:
    """Print ``[red]error:[/red] MESSAGE`` on ``console`` and return the exit (code 2) for the caller to raise.

    Returning the exit rather than raising it lets a call site keep its exception chain:
    ``raise error_exit(console, escape(str(error))) from error``.

    Args:
        console: Where to print (the command's console: stdout or stderr).
        message: Rich markup: escape any text that is not (paths, exception messages) with
            :func:`rich.markup.escape`.
        highlight: As :meth:`rich.console.Console.print` (None: the console's default).
        soft_wrap: As :meth:`rich.console.Console.print` (None: the console's default).

    Returns:
        ``typer.Exit(code=2)``.
    """
    console.print(f"[red]error:[/red] {message}", highlight=highlight, soft_wrap=soft_wrap)
    return typer.Exit(code=2)
