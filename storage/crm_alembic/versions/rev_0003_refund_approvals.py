"""CRM revision 0003: refund requests waiting for a manager, so they count toward the
refund thresholds of the invoice and the customer (`tools.refunds.refund_exposure`).

The DDL is version 3 of the hand-written migrations (`storage.migrations` for SQLite,
`storage.crm_pg_schema` for PostgreSQL).
"""

from __future__ import annotations

from storage.crm_alembic.ddl import refuse_downgrade, run_dialect_ddl
from storage.crm_pg_schema import POSTGRES_MIGRATIONS
from storage.migrations import MIGRATIONS

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Run this revision's DDL for the dialect being upgraded."""
    run_dialect_ddl(sqlite=MIGRATIONS[2], postgresql=POSTGRES_MIGRATIONS[2])


def downgrade() -> None:
    """Refused: the CRM schema only moves forward (`refuse_downgrade`)."""
    refuse_downgrade()
