"""Shared fixtures. Every test runs offline: real network connections fail loudly."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
def database_url(request: pytest.FixtureRequest) -> str:
    """`""` for the SQLite files in the data folder; in a module marked `both_databases`,
    also the URL of a new PostgreSQL database (the test runs once on each)."""
    if getattr(request, "param", "sqlite") == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return ""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of modules marked `both_databases` on SQLite and on PostgreSQL."""
    marked = metafunc.definition.get_closest_marker("both_databases") is not None
    if marked and "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def service(data_dir: Path, database_url: str) -> Iterator[SupportService]:
    """A conversation service on a fresh database (SQLite files, or PostgreSQL in modules
    marked `both_databases`), with 'today' pinned for policy checks."""
    with SupportService(data_dir, Context(today="2026-11-22"), database_url=database_url) as svc:
        yield svc


def crm_rows(service: SupportService, sql: str, *params: object) -> list[Any]:
    """Run a read query on the service's CRM database (either engine)."""
    conn = crm_database.read_only_connect(service.crm_path)
    assert conn is not None, f"no CRM at {service.crm_description}"
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()
