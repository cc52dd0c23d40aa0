"""Alembic environment of the CRM schema.

Run only through `storage.crm_alembic.runner.upgrade_to_head`, which hands in an open
SQLAlchemy connection already inside the migration transaction (`config.attributes
["connection"]`); Alembic then leaves committing to the runner. There is no URL and no
alembic.ini.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the CRM schema is upgraded by storage.crm_alembic.runner.upgrade_to_head, "
        "which hands in the connection"
    )
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
