"""LangGraph Studio: `langgraph dev` serves `langgraph.json` and runs a conversation.

Starts the in-memory dev server on 127.0.0.1 (no file watcher, no browser), drives one
conversation through `langgraph-sdk`, and stops the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PROJECT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    cli = Path(sys.executable).with_name("langgraph")
    if not cli.exists() and shutil.which("langgraph") is None:
        pytest.skip("langgraph-cli is not installed")
    port = free_port()
    env = {
        **os.environ,
        "SUPPORT_SWARM_DATA": str(tmp_path / "data"),
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(cli if cli.exists() else "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--allow-blocking",
        ],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("langgraph dev exited:\n" + (tmp_path / "server.log").read_text())
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("langgraph dev did not start:\n" + (tmp_path / "server.log").read_text())
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_studio_server_runs_a_conversation(dev_server: str) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=dev_server)
    assistants = client.assistants.search(graph_id="support")
    assert assistants, "the 'support' graph from langgraph.json is served"
    thread = client.threads.create()
    result = client.runs.wait(
        thread["thread_id"],
        "support",
        input={"messages": [{"role": "user", "content": "How do I export my data to CSV?"}]},
        context={"customer_id": "C001"},
    )
    assert isinstance(result, dict)
    assert result["intent"] == "faq"
    assert result["active_agent"] == "faq"
    assert "KB-014" in result["messages"][-1]["content"]
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"]["turn"] == 1
