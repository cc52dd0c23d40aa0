"""The CRM schema revisions, one per file (`rev_<id>_<what>.py`); see `storage.crm_alembic`."""
