"""CRM revision 0006: drop SQLite's full-text table `kb_fts` (articles are ranked in Python by
`tools.kb_ranking`); nothing to do on PostgreSQL, which never had it.

The DDL is version 6 of the hand-written migrations (`storage.migrations` for SQLite,
`storage.crm_pg_schema` for PostgreSQL).
"""

from __future__ import annotations

from storage.crm_alembic.ddl import refuse_downgrade, run_dialect_ddl
from storage.crm_pg_schema import POSTGRES_MIGRATIONS
from storage.migrations import MIGRATIONS

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Run this revision's DDL for the dialect being upgraded."""
    run_dialect_ddl(sqlite=MIGRATIONS[5], postgresql=POSTGRES_MIGRATIONS[5])


def downgrade() -> None:
    """Refused: the CRM schema only moves forward (`refuse_downgrade`)."""
    refuse_downgrade()
