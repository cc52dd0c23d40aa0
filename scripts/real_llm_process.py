"""The llama-cpp-python server process of `real_llm_check.py`: start it on a free port of
127.0.0.1, wait until it is idle, restart it when it stops answering."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server, through `real_llm_llama_server.py`
    (the cap on generated tokens), as a context manager.

    Args:
        python: the python of the llama-cpp-python environment.
        model_file: the .gguf model.
        log_path: where the server's output goes (appended to across restarts).
    """

    def __init__(self, python: str, model_file: str, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._command = [
            python, str(Path(__file__).with_name("real_llm_llama_server.py")),
            "--model", model_file, "--chat_format", "chatml-function-calling-capped",
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "8192",
            "--n_threads", "2", "--n_threads_batch", "2", "--cache", "true",
            "--logits_all", "false",
        ]  # fmt: skip
        # Logits are kept for the last token only: the server's default keeps them for
        # every token (0.2 MB per token of every cached prompt state: past 16 GB in a run)
        # and evaluates prompts more slowly.

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process and wait (up to 180 s) until it lists its model.

        Raises:
            SystemExit: the server exited or did not answer in time (see its log).
        """
        with self.log_path.open("a") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT)
        if self.wait_idle(180.0) is None:
            self.stop()
            raise SystemExit(f"the llama.cpp server did not start; see {self.log_path}")

    def stop(self) -> None:
        """Terminate the process (kill it after 10 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port (counted in `restarts`)."""
        self.stop()
        self.restarts += 1
        self.start()

    def wait_idle(self, limit: float) -> float | None:
        """Seconds until the server answers `GET /v1/models`, which waits for the model
        (the single slot) like any request; None when it has not answered within `limit`
        seconds or the process has exited."""
        started = time.monotonic()
        while (left := limit - (time.monotonic() - started)) > 0:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=left) as reply:
                    reply.read()
                return round(time.monotonic() - started, 1)
            except OSError:
                if self._process is None or self._process.poll() is not None:
                    return None
                time.sleep(0.5)
        return None
