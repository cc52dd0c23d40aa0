"""Load benchmark over HTTP: `support-swarm bench --http`.

Starts the real server (`support-swarm serve`, as a subprocess on a free 127.0.0.1 port,
fresh data folder) and drives it with httpx: `conversations` customers at once, each
sending `turns` messages one after another. With `model_latency`, the specialists run on
an `openai:` model pointed at the stub in `app.bench_model_stub`, which answers after that
delay, so model latency bounds throughput at conversations / (latency x model calls per
turn); the benchmark reports the share of that bound it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.bench import BENCH_MESSAGES
from app.bench_model_stub import StubServer
from storage import crm_database
from storage.urls import crm_location
from tools.api_keys import create_key

CUSTOMERS = 50
"""Seeded customers (`C001`...) the conversations are spread over."""

STARTUP_SECONDS = 120.0
"""How long to wait for the server's /healthz (seconds)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to port 0, read it, close)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until `GET /healthz` answers 200.

    Raises:
        RuntimeError: the process exited, or no answer within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited with code {process.returncode}.")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The server did not answer /healthz within {timeout:g} s.")


@contextmanager
def running_server(
    data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None, model: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `support-swarm serve` on a free port for the block; yields the process, whose
    `args` end with the data folder and whose base URL is `base_url(process)`."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--data-dir", str(data_dir)]
    if model:
        command += ["--model", model]
    # A session of its own, so stopping it reaches every worker Uvicorn started, even one
    # left behind by a supervisor that was stopped while still starting up.
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        wait_healthy(base_url(process), process, STARTUP_SECONDS)
        yield process
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop `process` and every process of its group: SIGTERM, then SIGKILL to whatever
    is left after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
            if process.returncode is not None and not _group_alive(process.pid):
                return


def _group_alive(group: int) -> bool:
    """Whether any process of process group `group` is still running."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def base_url(process: subprocess.Popen[bytes]) -> str:
    """The base URL of a server started by `running_server`."""
    args = [str(a) for a in process.args]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{args[args.index('--port') + 1]}"


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` and its descendants so far, read from
    `/proc` (None where there is no `/proc`)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    try:
        while pending:
            current = pending.pop()
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError, IndexError):
        return None
    return total


async def _conversation(
    client: httpx.AsyncClient,
    token: str,
    turns: int,
    offset: int,
    latencies: list[float],
    failures: Counter[str],
) -> tuple[int, int, int]:
    """One customer's conversation; returns (turns answered, errors, turns stored) and
    counts each failure's status code (or exception name) in `failures`."""
    headers = {"authorization": f"Bearer {token}"}
    created = await client.post("/v1/conversations", headers=headers)
    if created.status_code != 201:
        return 0, turns, 0
    thread_id = created.json()["thread_id"]
    answered = errors = 0
    for number in range(turns):
        text = BENCH_MESSAGES[(offset + number) % len(BENCH_MESSAGES)]
        started = time.perf_counter()
        try:
            answer = await client.post(
                f"/v1/conversations/{thread_id}/messages", json={"text": text}, headers=headers
            )
            ok = answer.status_code == 200
            if not ok:
                failures[f"{answer.status_code}: {answer.json().get('detail', '')[:80]}"] += 1
        except httpx.HTTPError as exc:
            ok = False
            failures[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - started) if ok else None
        answered += ok
        errors += not ok
    stored = await client.get(f"/v1/conversations/{thread_id}", headers=headers)
    kept = len(stored.json()["turns"]) if stored.status_code == 200 else 0
    return answered, errors, kept


def _tokens(base_url: str, backend_key: str, count: int) -> list[str]:
    headers = {"authorization": f"Bearer {backend_key}"}
    tokens = []
    for index in range(count):
        customer = f"C{index % CUSTOMERS + 1:03d}"
        answer = httpx.post(
            f"{base_url}/v1/customer-tokens",
            json={"customer_id": customer, "ttl_seconds": 3600},
            headers=headers,
        )
        answer.raise_for_status()
        tokens.append(answer.json()["token"])
    return tokens


async def _drive(base_url: str, tokens: list[str], turns: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=len(tokens) + 5)
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0, limits=limits) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_conversation(client, t, turns, i, latencies, failures) for i, t in enumerate(tokens))
        )
        elapsed = time.perf_counter() - started
    answered = sum(r[0] for r in results)
    ordered = sorted(latencies)
    return {
        "turns": answered,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(answered / elapsed, 2),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1) if ordered else None,
        "errors": sum(r[1] for r in results),
        "lost_turns": sum(max(r[0] - r[2], 0) for r in results),
        "failures": dict(failures),
    }


def run_http_bench(
    conversations: int, turns: int, *, workers: int = 1, model_latency: float | None = None
) -> dict[str, Any]:
    """Run the benchmark and return its figures (see module docstring).

    Returns:
        turns, seconds, turns_per_s, p50_ms, p99_ms, errors, lost_turns, and with a model
        latency also model_calls_per_turn, bound_turns_per_s and share_of_bound.
    """
    stub = StubServer(free_port(), model_latency) if model_latency is not None else None
    env = {"SUPPORT_SWARM_RATE_LIMIT": "1000000/minute", "SUPPORT_SWARM_WEBHOOK_WORKER": "0"}
    model = None
    if stub is not None:
        stub.start()
        env |= {
            "OPENAI_BASE_URL": f"http://127.0.0.1:{stub.server.config.port}/v1",
            "OPENAI_API_KEY": "stub",
        }
        model = "openai:bench-stub"
    try:
        with tempfile.TemporaryDirectory(prefix="support-swarm-http-bench-") as tmp:
            folder = Path(tmp)
            crm = crm_location(folder)  # or the SUPPORT_SWARM_DATABASE_URL database
            with crm_database.pooled_connection(crm) as conn:
                key = create_key(conn, role="backend", name="bench").key
            crm_database.close_pool(crm)
            with running_server(folder, workers=workers, env=env, model=model) as server:
                tokens = _tokens(base_url(server), key, conversations)
                cpu_before = tree_cpu_seconds(server.pid)
                figures = asyncio.run(_drive(base_url(server), tokens, turns))
                cpu_after = tree_cpu_seconds(server.pid)
            if figures["turns"] and cpu_before is not None and cpu_after is not None:
                spent = (cpu_after - cpu_before) * 1000 / figures["turns"]
                figures["server_cpu_ms_per_turn"] = round(spent, 1)
    finally:
        if stub is not None:
            stub.stop()
    database = "sqlite" if isinstance(crm, Path) else "postgresql"
    figures |= {"conversations": conversations, "workers": workers, "database": database}
    if stub is not None and model_latency and figures["turns"]:
        calls = stub.calls / figures["turns"]
        bound = conversations / (model_latency * calls) if calls else None
        figures |= {
            "model_calls_per_turn": round(calls, 3),
            "bound_turns_per_s": round(bound, 2) if bound else None,
            "share_of_bound": round(figures["turns_per_s"] / bound, 3) if bound else None,
        }
    return figures
