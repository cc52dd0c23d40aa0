"""CRM revision 0001: the CRM core (customers, subscriptions, invoices, payments,
refunds, tickets and plan changes).

The DDL is version 1 of the hand-written migrations (`storage.migrations` for SQLite,
`storage.crm_pg_schema` for PostgreSQL).
"""

from __future__ import annotations

from storage.crm_alembic.ddl import refuse_downgrade, run_dialect_ddl
from storage.crm_pg_schema import POSTGRES_MIGRATIONS
from storage.migrations import MIGRATIONS

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Run this revision's DDL for the dialect being upgraded."""
    run_dialect_ddl(sqlite=MIGRATIONS[0], postgresql=POSTGRES_MIGRATIONS[0])


def downgrade() -> None:
    """Refused: the CRM schema only moves forward (`refuse_downgrade`)."""
    refuse_downgrade()
