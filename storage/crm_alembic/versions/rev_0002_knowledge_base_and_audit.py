"""CRM revision 0002: knowledge base (with SQLite's full-text table `kb_fts`), service status, the
conversation audit trail, idempotency records and the fixture load state.

The DDL is version 2 of the hand-written migrations (`storage.migrations` for SQLite,
`storage.crm_pg_schema` for PostgreSQL).
"""

from __future__ import annotations

from storage.crm_alembic.ddl import refuse_downgrade, run_dialect_ddl
from storage.crm_pg_schema import POSTGRES_MIGRATIONS
from storage.migrations import MIGRATIONS

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Run this revision's DDL for the dialect being upgraded."""
    run_dialect_ddl(sqlite=MIGRATIONS[1], postgresql=POSTGRES_MIGRATIONS[1])


def downgrade() -> None:
    """Refused: the CRM schema only moves forward (`refuse_downgrade`)."""
    refuse_downgrade()
