"""Run a model's code with unit tests in a separate Python process, under a time limit."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["extract_code", "run_python_tests"]

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(response: str) -> str:
    """Return the code of a response: its fenced blocks joined (the whole text when it has none)."""
    blocks = _FENCE.findall(response)
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks)
    # An unterminated fence (the answer hit its token limit) still holds usable code.
    opened = re.search(r"```(?:python|py)?[ \t]*\n(.*)", response, re.DOTALL | re.IGNORECASE)
    return (opened.group(1) if opened else response).strip("\n")


def run_python_tests(code: str, tests: str, *, timeout_s: float = 5.0) -> bool:
    """Run ``code`` then ``tests`` in a fresh, isolated interpreter; True when it exits with status 0 in time.

    The process runs in an empty temporary folder with ``-I`` (no user site, no environment variables, no
    current directory on the path). This is a time limit and a clean process, not a security sandbox: only
    score code from models you would let run on this machine.

    Args:
        code: The candidate code (e.g. a function definition).
        tests: Test statements (asserts) that use it.
        timeout_s: Wall-time limit; a slower run fails.
    """
    with tempfile.TemporaryDirectory(prefix="emafusion-tests-") as folder:
        script = Path(folder) / "candidate_test.py"
        script.write_text(f"{code}\n\n{tests}\n", encoding="utf-8")
        try:
            completed = subprocess.run(  # noqa: S603 - runs this interpreter on a file we wrote
                [sys.executable, "-I", str(script)],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return completed.returncode == 0
