"""Checks on a customer message before anything is written (behind `SupportService.send`).

IDs are validated and normalised (`graph.identifiers`), the message must be text of an
accepted length, the customer must exist in the CRM, and the thread must be new, the
customer's own, or pruned from the customer's own (a pruned thread's ID stays reserved).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.service_models import ThreadOwnerError
from graph.identifiers import check_customer_id, check_text, check_thread_id
from nodes.triage import validate_message
from storage import crm_database
from tools.customers import UnknownCustomerError, get_customer

if TYPE_CHECKING:
    from app.service import SupportService


def check_message(
    service: SupportService, text: object, thread_id: object, customer_id: object
) -> tuple[str, str, str]:
    """Return (stripped message, thread ID, normalised customer ID); raises as
    `SupportService.validate`."""
    thread = check_thread_id(thread_id)
    customer = check_customer_id(customer_id)
    message = validate_message(check_text(text))
    if isinstance(service.crm_path, Path) and not service.crm_path.is_file():
        raise UnknownCustomerError(f"No CRM database at {service.crm_path}.")
    with crm_database.pooled_connection(service.crm_path) as conn:
        if get_customer(conn, customer) is None:
            raise UnknownCustomerError(
                f"Unknown customer {customer!r}: no such customer in {service.crm_description}."
            )
    owner = service.thread_owner(thread)
    if owner is None:
        pruned, owner = service.store.tombstone_owner(thread)
        if pruned and owner is None:
            owner = ""
    if owner is not None and owner != customer:
        raise ThreadOwnerError(
            f"Thread {thread!r} belongs to customer {owner or 'unknown'}, not {customer}."
        )
    return message, thread, customer
