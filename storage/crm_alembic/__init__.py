"""The CRM schema as Alembic revisions, one file per migration in `versions/`.

Both dialects share one revision history: each revision runs the DDL of the dialect it is
upgrading (`storage.crm_alembic.ddl.run_dialect_ddl`), SQLite's or PostgreSQL's. Revision
identifiers are four-digit numbers, `0001` upwards, each file named `rev_<id>_<what>.py`;
revision `000N` is the schema the hand-written runner called version N (`PRAGMA
user_version` on SQLite, `crm_schema_version` on PostgreSQL), so a database made before
Alembic is stamped at its version and upgraded from there.

This module reads only the folder listing, never Alembic: `storage.crm_database.migrate`
compares a database's `alembic_version` with `HEAD_REVISION` on every new connection, and
imports Alembic (`storage.crm_alembic.runner`) only when an upgrade is due.
"""

from __future__ import annotations

import re
from pathlib import Path

SCRIPT_FOLDER = Path(__file__).resolve().parent
"""The Alembic script folder (`env.py`, `versions/`), set as `script_location` in code."""

_REVISION_FILE = re.compile(r"rev_(\d{4})_\w+\.py")


def _listed_revisions() -> tuple[str, ...]:
    names = (_REVISION_FILE.fullmatch(path.name) for path in (SCRIPT_FOLDER / "versions").iterdir())
    return tuple(sorted(match.group(1) for match in names if match))


REVISIONS: tuple[str, ...] = _listed_revisions()
"""Every revision identifier, oldest first (`0001`, `0002`, ...), from the file names."""

HEAD_REVISION = REVISIONS[-1]
"""The newest revision: a database whose `alembic_version` holds it needs no upgrade."""

SCHEMA_VERSION = len(REVISIONS)
"""How many revisions a fully upgraded database has run; kept in the pre-Alembic version
markers (`PRAGMA user_version`, `crm_schema_version`) so an older build refuses a newer
database."""


def revision_at_version(version: int) -> str:
    """The revision holding the schema the hand-written runner called `version` (1 to
    `SCHEMA_VERSION`): `0001` for version 1.

    Raises:
        RuntimeError: `version` is above `SCHEMA_VERSION` (a database newer than this code).
        ValueError: `version` is below 1.
    """
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"CRM database schema version {version} is newer than this code ({SCHEMA_VERSION})"
        )
    if version < 1:
        raise ValueError(f"no revision holds schema version {version}")
    return REVISIONS[version - 1]
