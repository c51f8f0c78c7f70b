"""A real OpenAI-compatible server for the integration tests: llama-cpp-python's, on 127.0.0.1.

The session-scoped :func:`openai_server` fixture starts ``python -m llama_cpp.server`` with a config file that
serves the embedded GGUF models (paths resolved and sha256-checked by ``langchain_emafusion.pool.weights``),
on a free port, waits until ``/v1/models`` lists them, and stops the process at the end of the session. Nothing
is downloaded: the weights come from the installed packages.

- ``smollm2-135m``: chat format ``chatml`` (no tool calling);
- ``qwen2.5-coder-0.5b``: Qwen's own chat template with native ``<tool_call>`` tool calling, through the chat
  handler that ``llama_server.py`` registers before starting the server (why: see that module).

The server holds one model at a time and swaps on a request for the other one (~0.3 s for these files, read
from the page cache).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from langchain_emafusion import Capabilities, ModelCard, ModelPool
from langchain_emafusion.pool.weights import EMBEDDED_MODELS, resolve_gguf

from .llama_server import HANDLER_NAME

SMOL = "smollm2-135m"
QWEN = "qwen2.5-coder-0.5b"
# alias -> llama-cpp-python chat format
SERVED_MODELS: dict[str, str] = {SMOL: "chatml", QWEN: HANDLER_NAME}
LAUNCHER = Path(__file__).with_name("llama_server.py")
# What each served model truly supports through this server (see the module docstring).
SERVED_CAPABILITIES: dict[str, Capabilities] = {
    SMOL: Capabilities(tools=False, structured_output=False, context_window=4096),
    QWEN: Capabilities(tools=True, structured_output=True, context_window=4096),
}
STARTUP_TIMEOUT_S = 180.0
API_KEY = "sk-local-no-key-needed"  # the server checks no key; the OpenAI client insists on one


@dataclass(frozen=True)
class OpenAIServer:
    """A running llama-cpp-python server."""

    base_url: str
    """``http://127.0.0.1:<port>/v1``."""
    models: tuple[str, ...]
    """The model aliases it serves."""
    log_path: Path
    """Its combined stdout/stderr."""

    def chat(self, model: str, **kwargs: Any) -> ChatOpenAI:
        """A ``ChatOpenAI`` client of one served model (usage reported when streaming too)."""
        params: dict[str, Any] = {
            "model": model,
            "base_url": self.base_url,
            "api_key": API_KEY,
            "stream_usage": True,
            "max_retries": 0,
            "timeout": 300,
            # One async HTTP client per instance: langchain-openai's shared default one stays bound to the event
            # loop of the test that created it, and later tests (new loops) failed with "Event loop is closed".
            "http_async_client": httpx.AsyncClient(timeout=300),
        }
        params.update(kwargs)
        return ChatOpenAI(**params)

    def card(self, model: str, **kwargs: Any) -> ModelCard:
        """A pool card for a served model: a lazily built ``ChatOpenAI`` client and its true capabilities."""
        spec = EMBEDDED_MODELS[model]
        fields: dict[str, Any] = {
            "latency_hint_s": spec.latency_hint_s,
            "private": True,  # self-hosted on this machine
            "capabilities": SERVED_CAPABILITIES[model],
            "tags": ["local", "openai-compatible"],
        }
        fields.update(kwargs)
        return ModelCard(name=model, model=_factory(self, model), **fields)

    def pool(self) -> ModelPool:
        """Both served models as a pool: SmolLM2 (faster hint, no tools) first, Qwen (tools) second."""
        return ModelPool([self.card(SMOL), self.card(QWEN)])


def _factory(server: OpenAIServer, model: str) -> Callable[[], ChatOpenAI]:
    return lambda: server.chat(model)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_config(port: int) -> dict[str, Any]:
    # One thread by default: on this shared 2-core machine llama.cpp's threads spin-wait on each other when the
    # cores are busy, and a second thread made calls slower, not faster. EMAFUSION_SERVER_THREADS overrides.
    threads = int(os.environ.get("EMAFUSION_SERVER_THREADS", "1"))
    return {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {
                "model": str(resolve_gguf(alias)),
                "model_alias": alias,
                "chat_format": chat_format,
                "n_ctx": 4096,
                "n_threads": threads,
                "n_threads_batch": threads,
                "logits_all": False,
                "verbose": False,
            }
            for alias, chat_format in SERVED_MODELS.items()
        ],
    }


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with {process.returncode} during startup:\n{log_path.read_text()[-3000:]}"
            )
        try:
            response = httpx.get(f"{base_url}/models", timeout=2.0)
            served = {item["id"] for item in response.json().get("data", [])}
            if response.status_code == 200 and set(SERVED_MODELS) <= served:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    raise TimeoutError(
        f"llama_cpp.server not ready after {STARTUP_TIMEOUT_S:.0f}s:\n{log_path.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIServer]:
    """Start llama-cpp-python's OpenAI-compatible server on 127.0.0.1 for the session; stop it at the end."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the `server` extra)")
    folder = tmp_path_factory.mktemp("llama-server")
    port = _free_port()
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(_server_config(port), indent=2), encoding="utf-8")
    log_path = folder / "server.log"
    base_url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--config_file", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, base_url, log_path)
        yield OpenAIServer(base_url=base_url, models=tuple(SERVED_MODELS), log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
