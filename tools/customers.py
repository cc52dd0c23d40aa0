"""Customer records: lookup by ID and the error raised for unknown customers."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from storage.crm_types import CrmConnection, CrmRow


class UnknownCustomerError(ValueError):
    """Raised when a customer ID does not exist in the CRM.

    Args:
        message: the error text; `require_customer` names the ID in it.
        customer_id: the unknown ID, when known (also kept as an attribute).
    """

    def __init__(self, message: str, *, customer_id: str | None = None) -> None:
        super().__init__(message)
        self.customer_id = customer_id


class Customer(BaseModel):
    """One customer account."""

    id: str = Field(description="Customer ID such as `C001`.")
    name: str
    email: str
    company: str
    plan: str = Field(description="Current plan name: Free, Starter, Professional or Enterprise.")
    mrr: float = Field(description="Monthly recurring revenue in dollars (plan plus add-ons).")
    tier: str = Field(description="Support tier: standard, priority or enterprise.")
    tags: list[str] = Field(default_factory=list, description="Labels such as vip or at-risk.")
    addons: list[str] = Field(default_factory=list, description="Add-on names on the account.")
    seats: int = Field(description="Seats in use.")
    created_at: str = Field(description="Sign-up date, ISO `YYYY-MM-DD`.")


def _parse_list(text: str | None) -> list[str]:
    if not text:
        return []
    if text.lstrip().startswith("["):
        return [str(item) for item in json.loads(text)]
    return [part.strip() for part in text.split(",") if part.strip()]


def customer_from_row(row: CrmRow) -> Customer:
    """Build a `Customer` from a `customers` row (tags/addons as JSON or comma text)."""
    data = dict(row)
    data["tags"] = _parse_list(data.get("tags"))
    data["addons"] = _parse_list(data.get("addons"))
    return Customer.model_validate(data)


def normalise_customer_id(customer_id: str) -> str:
    """Return `customer_id` trimmed and upper-cased (`c001` -> `C001`)."""
    return customer_id.strip().upper()


def get_customer(conn: CrmConnection, customer_id: str) -> Customer | None:
    """Return the customer with ID `customer_id` (case-insensitive), or `None` if absent."""
    row = conn.execute(
        "SELECT * FROM customers WHERE id = ?", (normalise_customer_id(customer_id),)
    ).fetchone()
    return None if row is None else customer_from_row(row)


def require_customer(conn: CrmConnection, customer_id: str) -> Customer:
    """Return the customer with ID `customer_id`.

    Raises:
        UnknownCustomerError: if no such customer exists (the message names the ID).
    """
    customer = get_customer(conn, customer_id)
    if customer is None:
        raise UnknownCustomerError(
            f"Unknown customer ID {customer_id!r}: no such customer in the CRM",
            customer_id=customer_id,
        )
    return customer


def list_customer_ids(conn: CrmConnection) -> list[str]:
    """Return every customer ID in ascending order."""
    return [str(row[0]) for row in conn.execute("SELECT id FROM customers ORDER BY id")]


def customer_exists(conn: CrmConnection, customer_id: str) -> bool:
    """Return True when `customer_id` names a customer (works on read-only connections)."""
    row = conn.execute(
        "SELECT 1 FROM customers WHERE id = ?", (normalise_customer_id(customer_id),)
    ).fetchone()
    return row is not None
