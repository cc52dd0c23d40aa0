"""Where the data lives: a folder of SQLite files (the embedded default) or one PostgreSQL
database, chosen by `--database-url` or `SUPPORT_SWARM_DATABASE_URL`.

Accepted URLs: `postgresql://user:password@host:port/name` (also `postgres://` and
SQLAlchemy's `postgresql+psycopg://`). Without a URL the CRM and the checkpoints are
`crm.sqlite` and `checkpoints.sqlite` in the data folder (`SUPPORT_SWARM_DATA`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

DATABASE_URL_ENV = "SUPPORT_SWARM_DATABASE_URL"
"""Environment variable naming the PostgreSQL database every command uses."""

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
"""URL schemes read as PostgreSQL."""


class DatabaseUrlError(ValueError):
    """A database URL that cannot be used; the message says why and what is accepted."""


def is_postgres_url(target: str | Path | None) -> bool:
    """True when `target` is a PostgreSQL URL rather than a SQLite file path."""
    if target is None or isinstance(target, Path):
        return False
    return urlsplit(str(target)).scheme.lower() in POSTGRES_SCHEMES


def check_database_url(url: str) -> str:
    """Return `url` in the `postgresql://` form psycopg accepts.

    Raises:
        DatabaseUrlError: not a PostgreSQL URL, or no host or database name in it.
    """
    text = str(url).strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise DatabaseUrlError(
            f"Unsupported database URL {redact(text)!r}: use postgresql://user@host:port/name "
            "(SQLite needs no URL: it is the default, in the data folder)."
        )
    if not parts.hostname or not parts.path.strip("/"):
        raise DatabaseUrlError(
            f"Database URL {redact(text)!r} needs a host and a database name, "
            "e.g. postgresql://support@127.0.0.1:5432/support."
        )
    return "postgresql" + text[len(parts.scheme) :]


def redact(url: str) -> str:
    """`url` with any password replaced by `***`, for messages and logs."""
    parts = urlsplit(str(url))
    if not parts.password:
        return str(url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def database_url_from_env() -> str | None:
    """The checked `SUPPORT_SWARM_DATABASE_URL`, or None when it is unset or empty.

    Raises:
        DatabaseUrlError: it is set but not a usable PostgreSQL URL.
    """
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return check_database_url(value) if value else None


CRM_FILE = "crm.sqlite"
"""Name of the embedded CRM database file in the data folder."""


def crm_location(data_dir: Path, database_url: str | None = None) -> str | Path:
    """Where the CRM is: the PostgreSQL URL (`database_url`, else
    `SUPPORT_SWARM_DATABASE_URL`) when there is one, else `<data_dir>/crm.sqlite`.

    Raises:
        DatabaseUrlError: the URL given or in the environment is not a PostgreSQL URL.
    """
    url = check_database_url(database_url) if database_url else database_url_from_env()
    return url or Path(data_dir) / CRM_FILE
