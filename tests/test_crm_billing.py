"""Customers, invoices, payments and duplicate detection, always scoped to one customer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.crm_database import CRM_FIXTURE, connect
from storage.crm_types import CrmConnection
from tools import billing
from tools.customers import (
    UnknownCustomerError,
    customer_exists,
    get_customer,
    require_customer,
)


@pytest.fixture()
def conn(crm_target: str | Path) -> Iterator[CrmConnection]:
    """The CRM on each database (`crm_target`)."""
    connection = connect(crm_target)
    yield connection
    connection.close()


def test_get_and_require_customer(conn: CrmConnection) -> None:
    customer = get_customer(conn, "c006")
    assert customer is not None
    assert customer.id == "C006" and "vip" in customer.tags
    assert get_customer(conn, "C999") is None
    assert customer_exists(conn, "C001") and not customer_exists(conn, "C999")
    with pytest.raises(UnknownCustomerError, match="C999"):
        require_customer(conn, "C999")


def test_list_invoices_newest_first_with_limit_and_status(conn: CrmConnection) -> None:
    invoices = billing.list_invoices(conn, "C001", limit=3)
    assert [i.issued_on for i in invoices] == ["2026-11-01", "2026-10-01", "2026-09-01"]
    assert all(i.customer_id == "C001" for i in invoices)
    failed = billing.list_invoices(conn, "C005", status="FAILED")
    assert len(failed) == 1 and failed[0].issued_on == "2026-11-01"
    with pytest.raises(ValueError, match="Unknown invoice status"):
        billing.list_invoices(conn, "C001", status="refunded")


def test_find_invoices_by_amount_date_and_id(conn: CrmConnection) -> None:
    by_amount = billing.find_invoices(conn, "C003", amount=49.99)
    assert by_amount and all(i.amount == 49.99 for i in by_amount)
    assert billing.find_invoices(conn, "C003", amount=49.9) == []
    (march,) = billing.find_invoices(conn, "C003", amount=49.99, date="2026-03-01")
    assert march.description == "Priority Support add-on - March 2026"
    assert billing.find_invoices(conn, "C003", amount=49.99, date="03-01") == [march]
    assert billing.find_invoices(conn, "C003", amount=49.99, date="3-1") == [march]
    assert len(billing.find_invoices(conn, "C003", date="2026-03")) == 2
    for spelling in (march.id, march.id.lower(), march.id.replace("-", ""), march.id[4:]):
        assert billing.find_invoices(conn, "C003", invoice_id=spelling) == [march]
    with pytest.raises(ValueError, match="Unrecognised date"):
        billing.find_invoices(conn, "C003", date="March 1st")
    with pytest.raises(ValueError):
        billing.find_invoices(conn, "C003", date="02-30")


def test_another_customers_invoice_is_not_found(conn: CrmConnection) -> None:
    (big,) = billing.find_invoices(conn, "C004", amount=750)
    assert billing.find_invoices(conn, "C001", invoice_id=big.id) == []
    assert billing.get_invoice(conn, "C001", big.id) is None
    assert billing.get_invoice(conn, "C004", big.id) == big


def test_list_payments_failed_only(conn: CrmConnection) -> None:
    failed = billing.list_payments(conn, "C005", failed_only=True)
    assert failed and all(p.status == "failed" for p in failed)
    assert {p.failure_reason for p in failed} == {"card_declined"}
    everything = billing.list_payments(conn, "C005", limit=50)
    assert any(p.status == "succeeded" for p in everything)
    assert [p.attempted_on for p in everything] == sorted(
        (p.attempted_on for p in everything), reverse=True
    )


def test_duplicate_charge_detection(conn: CrmConnection) -> None:
    (dup,) = billing.find_duplicate_charges(conn, "C002")
    assert dup.amount == 29.0
    assert (dup.original_issued_on, dup.issued_on) == ("2026-11-01", "2026-11-02")
    original = billing.get_invoice(conn, "C002", dup.original_invoice_id)
    assert original is not None and original.issued_on == "2026-11-01"
    assert billing.find_duplicate_charges(conn, "C001") == []


def test_already_refunded_duplicate_is_not_reported_again(conn: CrmConnection) -> None:
    fixture = json.loads(CRM_FIXTURE.read_text(encoding="utf-8"))
    refunded = next(r for r in fixture["refunds"] if r["reason"] == "Duplicate charge")
    invoice = billing.get_invoice(conn, refunded["customer_id"], refunded["invoice_id"])
    assert invoice is not None and invoice.refunded == invoice.amount
    assert billing.find_duplicate_charges(conn, refunded["customer_id"]) == []


def test_cents_rounding() -> None:
    assert billing.cents(49.99) == 4999
    assert billing.cents(0.1 + 0.2) == 30
