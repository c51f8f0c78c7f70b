"""LangGraph Server (`langgraph dev`, offline, in memory) serves the fusion graph from langgraph.json.

The server runs on 127.0.0.1 on a free port with the embedded local pool; one run is sent over HTTP and its
answer checked, then the server is stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 180.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("langgraph") / "server.log"
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",  # nothing leaves the machine
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        str(Path(sys.executable).with_name("langgraph")),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        str(REPO / "langgraph.json"),
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            # Run from a scratch folder: the dev server keeps its in-memory state files in the working directory.
            command,
            cwd=log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"langgraph dev exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"langgraph dev did not start in {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(1)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the CLI and the API server it started (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_server_lists_the_fusion_graph(server: str) -> None:
    found = httpx.post(f"{server}/assistants/search", json={"graph_id": "emafusion"}, timeout=30).json()
    assert [a["graph_id"] for a in found] == ["emafusion"]


def test_one_run_answers_on_the_embedded_pool(server: str) -> None:
    response = httpx.post(
        f"{server}/runs/wait",
        json={
            "assistant_id": "emafusion",
            "input": {
                "messages": [{"role": "user", "content": "Name the capital of Italy in one word."}],
                "options": {"max_tokens": 16},
            },
        },
        timeout=600,
    )
    assert response.status_code == 200, response.text
    output = response.json()
    assert "rome" in output["answer"].lower()
    fusion = output["fusion"]
    assert fusion["plan"]["source"] == "rule"  # one task: no decomposer call
    assert fusion["models"] and set(fusion["models"]) <= {"smollm2-135m", "qwen2.5-coder-0.5b"}
    assert output["messages"][-1]["type"] == "ai" and output["messages"][-1]["content"] == output["answer"]


def _stream_events(server: str, question: str) -> list[dict[str, object]]:
    """One run's `astream_events(version="v2")` as the server streams it (`stream_mode="events"`)."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server, timeout=600)
    parts = client.runs.stream(
        None,
        "emafusion",
        input={"messages": [{"role": "user", "content": question}], "options": {"max_tokens": 16}},
        stream_mode="events",
    )
    return [part.data for part in parts if part.event == "events"]


def test_concurrent_event_streams_finish_with_their_own_answers(server: str) -> None:
    """Three `astream_events` v2 streams at once over the served graph: each ends, none hangs or cross-talks."""
    from concurrent.futures import ThreadPoolExecutor

    questions = {
        "rome": "Name the capital of Italy in one word.",
        "paris": "Name the capital of France in one word.",
        "tokyo": "Name the capital of Japan in one word.",
    }
    with ThreadPoolExecutor(len(questions)) as executor:
        streams = dict(
            zip(questions, executor.map(lambda q: _stream_events(server, q), questions.values()), strict=True)
        )
    for expected, events in streams.items():
        kinds = [event["event"] for event in events]
        assert "on_chain_start" in kinds and kinds[-1] == "on_chain_end", kinds[-5:]
        # The fusion model's own stream: token chunks as the member wrote them, not each member's run.
        tokens = [
            event
            for event in events
            if event["event"] == "on_chat_model_stream"
            and "emafusion-member" not in (event.get("tags") or [])
        ]
        assert tokens, f"no chat-model token events in the {expected!r} stream"
        # Its own answer: the streamed tokens make up exactly the answer its run ended with (the tiny local
        # models' facts are not what is tested here).
        streamed = "".join(str(event["data"]["chunk"]["content"]) for event in tokens)  # type: ignore[index]
        final = events[-1]["data"]["output"]  # type: ignore[index]
        assert streamed.strip() == str(final["answer"]).strip(), (expected, streamed, final["answer"])  # type: ignore[index]
