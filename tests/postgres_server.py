"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary folder.

`PostgresServer.start()` runs `initdb` into a temporary folder and `pg_ctl start` on a free
port of 127.0.0.1 (and a Unix socket in the same folder), trusting local connections; the
server is stopped and its folder deleted by `stop()`. The binaries come from Debian's
`postgresql` package (`scripts/install_postgres.sh`); `find_binaries` says where, or None.
When the tests run as root, the server runs as the `postgres` user the package creates
(PostgreSQL refuses to run as root).

Durability settings are off (`fsync`, `synchronous_commit`, `full_page_writes`): a test
database is thrown away, and the benchmarks that publish figures use their own server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REQUIRE_ENV = "SUPPORT_SWARM_REQUIRE_POSTGRES"
"""When set (CI sets it), a missing PostgreSQL fails the Postgres tests instead of
skipping them."""


def find_binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`, or None when not installed.

    Looks in `PATH` first, then in Debian's `/usr/lib/postgresql/<version>/bin` (newest
    version first).
    """
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name.split(".")[0]),
        reverse=True,
    )
    return Path(found[0]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL server in a temporary folder, reachable on 127.0.0.1:`port`.

    Args:
        binaries: folder of `initdb` and `pg_ctl` (`find_binaries()`).
        superuser: the role created by `initdb`; every connection uses it.
    """

    binaries: Path
    superuser: str = "support"
    port: int = field(default_factory=_free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="support-pg-")))

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder (inside `folder`)."""
        return self.folder / "data"

    def _run(self, *args: str) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{tail}")

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns self.

        Raises:
            RuntimeError: `initdb` or `pg_ctl` failed (the message holds their output).
        """
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", self.superuser, "--auth=trust",
            "--encoding=UTF8", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", options,
            "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL for `database` on this server."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """Create an empty database with a unique name; returns its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
