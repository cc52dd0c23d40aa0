"""Settings of the HTTP service, read from the environment once per process.

`support-swarm serve` writes its options to these variables before Uvicorn starts, so every
worker process (`--workers N`) reads the same settings.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from graph.context import default_data_dir


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number.") from None


@dataclass(frozen=True)
class ServerSettings:
    """Everything the app factory needs; see `from_env` for the variables."""

    data_dir: Path
    model: str | None = None
    """Specialist model (`provider:model`); None keeps the project default (`local`)."""
    token_secret: str = ""
    """HMAC key of customer tokens (HS256); shared by all workers through a file."""
    max_token_ttl_seconds: int = 86400
    rate_limit: str = "300/minute"
    """Per-credential request limit such as `300/minute` (`limits` notation), per process."""
    max_body_bytes: int = 32 * 1024
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0
    """First retry delay (seconds); doubled per failed attempt, at most an hour."""
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    run_webhook_worker: bool = True

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Read `SUPPORT_SWARM_DATA`, `SUPPORT_MODEL`, `SUPPORT_SWARM_TOKEN_SECRET`,
        `SUPPORT_SWARM_RATE_LIMIT`, `SUPPORT_SWARM_MAX_BODY_BYTES`,
        `SUPPORT_SWARM_CORS_ORIGINS` (comma-separated), `SUPPORT_SWARM_WEBHOOK_MAX_ATTEMPTS`,
        `SUPPORT_SWARM_WEBHOOK_BACKOFF` (seconds) and `SUPPORT_SWARM_WEBHOOK_WORKER` (`0`
        turns delivery off in this process).

        Raises:
            ValueError: a number that does not parse.
        """
        data_dir = default_data_dir()
        origins = os.environ.get("SUPPORT_SWARM_CORS_ORIGINS", "")
        return cls(
            data_dir=data_dir,
            model=os.environ.get("SUPPORT_MODEL") or None,
            token_secret=os.environ.get("SUPPORT_SWARM_TOKEN_SECRET") or shared_secret(data_dir),
            rate_limit=os.environ.get("SUPPORT_SWARM_RATE_LIMIT") or cls.rate_limit,
            max_body_bytes=int(_env_float("SUPPORT_SWARM_MAX_BODY_BYTES", cls.max_body_bytes)),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            webhook_max_attempts=int(
                _env_float("SUPPORT_SWARM_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts)
            ),
            webhook_backoff_seconds=_env_float(
                "SUPPORT_SWARM_WEBHOOK_BACKOFF", cls.webhook_backoff_seconds
            ),
            run_webhook_worker=os.environ.get("SUPPORT_SWARM_WEBHOOK_WORKER", "1") != "0",
        )


def shared_secret(data_dir: Path) -> str:
    """The token-signing key in `<data_dir>/token-secret`, created (mode 0600) on first use.

    Every worker and the CLI read the same file, so a token minted by one is valid in all.
    """
    path = data_dir / "token-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it to create a new key.") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
