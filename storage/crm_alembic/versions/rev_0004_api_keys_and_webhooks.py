"""CRM revision 0004: API keys (hashed), webhook subscriptions, the webhook outbox and
its delivery log, and an index for analytics over time ranges.

The DDL is version 4 of the hand-written migrations (`storage.migrations` for SQLite,
`storage.crm_pg_schema` for PostgreSQL).
"""

from __future__ import annotations

from storage.crm_alembic.ddl import refuse_downgrade, run_dialect_ddl
from storage.crm_pg_schema import POSTGRES_MIGRATIONS
from storage.migrations import MIGRATIONS

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Run this revision's DDL for the dialect being upgraded."""
    run_dialect_ddl(sqlite=MIGRATIONS[3], postgresql=POSTGRES_MIGRATIONS[3])


def downgrade() -> None:
    """Refused: the CRM schema only moves forward (`refuse_downgrade`)."""
    refuse_downgrade()
