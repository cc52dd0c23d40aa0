"""Shared fixtures. Every test runs offline: real network connections fail loudly."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.service import SupportService
from graph.context import Context
from graph.models import load_chat_model
from storage import crm_database
from tests.postgres_server import REQUIRE_ENV, PostgresServer, find_binaries

LOOPBACK_PREFIXES = ("127.", "::1", "localhost")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""Public labelled messages kept outside the project (absent on some machines)."""


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a host other than loopback."""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block non-loopback connections and real model credentials for every test."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and not host.startswith(LOOPBACK_PREFIXES):
            raise NetworkBlockedError(f"Tests are offline; refused connection to {address!r}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SUPPORT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    load_chat_model.cache_clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run (`tests/postgres_server.py`).

    Skipped when Debian's `postgresql` binaries are absent, unless `SUPPORT_SWARM_REQUIRE_
    POSTGRES` is set (CI sets it), which makes their absence a failure.
    """
    binaries = find_binaries()
    if binaries is None:
        message = (
            "PostgreSQL is not installed: scripts/install_system_packages.sh installs "
            "Debian's postgresql package"
        )
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(binaries).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The `postgresql://` URL of a new, empty database on the test server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def crm_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where a CRM test's database lives, once per database: a new SQLite file, or the
    URL of a new, empty PostgreSQL database (`postgres_url`). This process's pooled
    connections to it are closed afterwards."""
    target: str | Path = tmp_path / "crm.sqlite"
    if request.param == "postgres":
        target = str(request.getfixturevalue("postgres_url"))
    yield target
    crm_database.close_pool(target)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data folder for the CRM and checkpoint databases."""
    return tmp_path / "data"


@pytest.fixture
def service(data_dir: Path) -> Iterator[SupportService]:
    """A conversation service on fresh SQLite files, with 'today' pinned for policy checks."""
    with SupportService(data_dir, Context(today="2026-11-22")) as svc:
        yield svc


def crm_rows(service: SupportService, sql: str, *params: object) -> list[sqlite3.Row]:
    """Run a read query on the service's CRM database."""
    conn = sqlite3.connect(service.crm_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
