"""Business policy in code: refunds (docs/architecture.md "Refund policy") and plans/offers
(caps, prices)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from storage.crm_database import connect
from storage.crm_types import CrmConnection
from tools import billing
from tools.billing import Invoice
from tools.customers import require_customer
from tools.events import list_events
from tools.plans import (
    MAX_DISCOUNT_PCT,
    MAX_TRIAL_DAYS,
    PLANS,
    UnknownPlanError,
    change_plan,
    compare_plans,
    current_subscription,
    make_offer,
    resolve_plan,
)
from tools.refunds import (
    AUTO_APPROVE_BELOW,
    MAX_AUTO_AGE_DAYS,
    PROCESSING_DAYS,
    REASON_REQUIRED_UP_TO,
    evaluate_refund,
    list_refunds,
    refund_policy_rules,
    request_refund,
)
from tools.tickets import get_ticket

TODAY = date(2026, 11, 22)


def _invoice(amount: float = 1000.0, age_days: int = 5, status: str = "paid") -> Invoice:
    return Invoice(
        id="INV-1",
        customer_id="C001",
        issued_on=(TODAY - timedelta(days=age_days)).isoformat(),
        amount=amount,
        description="Test charge",
        plan="Professional",
        status=status,
    )


def _decide(
    amount: float,
    reason: str = "",
    *,
    age_days: int = 5,
    invoice_amount: float = 1000.0,
    status: str = "paid",
    duplicate: bool = False,
    refunded: float = 0.0,
):
    return evaluate_refund(
        _invoice(invoice_amount, age_days, status),
        amount,
        reason,
        is_duplicate=duplicate,
        already_refunded=refunded,
        today=TODAY,
    )


# --- refund policy rules and boundaries ----------------------------------------------------


def test_policy_constants_match_design() -> None:
    assert (AUTO_APPROVE_BELOW, REASON_REQUIRED_UP_TO, MAX_AUTO_AGE_DAYS) == (100.0, 500.0, 30)


@pytest.mark.parametrize(
    ("amount", "reason", "outcome"),
    [
        (0.01, "", "approved"),
        (99.99, "", "approved"),
        (100.00, "", "needs_reason"),
        (100.00, "   ", "needs_reason"),
        (100.00, "Unused seats", "approved"),
        (250.00, "", "needs_reason"),
        (500.00, "Unused seats", "approved"),
        (500.00, "", "needs_reason"),
        (500.01, "Unused seats", "needs_manager_approval"),
        (900.00, "", "needs_manager_approval"),
    ],
)
def test_amount_boundaries(amount: float, reason: str, outcome: str) -> None:
    assert _decide(amount, reason).outcome == outcome


@pytest.mark.parametrize(
    ("age_days", "outcome"),
    [
        (0, "approved"),
        (30, "approved"),
        (31, "needs_manager_approval"),
        (200, "needs_manager_approval"),
    ],
)
def test_age_boundary(age_days: int, outcome: str) -> None:
    assert _decide(50.0, age_days=age_days).outcome == outcome


def test_old_charge_needs_manager_even_with_reason() -> None:
    assert _decide(120.0, "Did not use it", age_days=31).outcome == "needs_manager_approval"


def test_duplicate_is_always_approved() -> None:
    assert _decide(900.0, duplicate=True, age_days=90).outcome == "approved"
    assert _decide(150.0, "", duplicate=True).outcome == "approved"


def test_never_more_than_the_refundable_remainder() -> None:
    decision = _decide(60.0, invoice_amount=200.0, refunded=150.0)
    assert decision.outcome == "rejected"
    assert decision.max_refundable == 50.0
    assert "$50.00" in decision.explanation
    assert _decide(50.0, invoice_amount=200.0, refunded=150.0).outcome == "approved"
    assert _decide(29.01, invoice_amount=29.0).outcome == "rejected"
    assert _decide(29.01, invoice_amount=29.0, duplicate=True).outcome == "rejected"
    full = _decide(10.0, invoice_amount=29.0, refunded=29.0)
    assert full.outcome == "rejected" and "in full" in full.explanation


@pytest.mark.parametrize("status", ["failed", "open", "void"])
def test_unpaid_invoices_are_rejected(status: str) -> None:
    decision = _decide(10.0, status=status)
    assert decision.outcome == "rejected"
    assert decision.max_refundable == 0.0


@pytest.mark.parametrize("amount", [0.0, -5.0, 0.001])
def test_non_positive_amounts_are_rejected(amount: float) -> None:
    assert _decide(amount).outcome == "rejected"


def test_policy_rules_are_built_from_the_constants() -> None:
    text = " ".join(refund_policy_rules())
    assert "$100.00" in text and "$500.00" in text and "30 days" in text
    assert PROCESSING_DAYS in text


# --- refund requests against the database --------------------------------------------------


@pytest.fixture()
def conn(crm_target: str | Path) -> Iterator[CrmConnection]:
    """The CRM on each database (`crm_target`)."""
    connection = connect(crm_target)
    yield connection
    connection.close()


def _refund_rows(conn: CrmConnection, invoice_id: str) -> int:
    row = conn.execute("SELECT COUNT(*) FROM refunds WHERE invoice_id = ?", (invoice_id,))
    return int(row.fetchone()[0])


def test_duplicate_charge_is_refunded_once(conn: CrmConnection) -> None:
    (dup,) = billing.find_duplicate_charges(conn, "C002")
    result = request_refund(
        conn, "C002", dup.duplicate_invoice_id, 29.0, "", idempotency_key="a", today=TODAY
    )
    assert result.outcome == "approved"
    assert result.refund_id is not None and result.refund_id.startswith("RF-")
    assert result.processing_days == PROCESSING_DAYS
    assert _refund_rows(conn, dup.duplicate_invoice_id) == 1
    assert billing.find_duplicate_charges(conn, "C002") == []
    assert [r.id for r in list_refunds(conn, "C002")] == [result.refund_id]
    # A second request with a new key finds nothing left to refund.
    again = request_refund(
        conn, "C002", dup.duplicate_invoice_id, 29.0, "", idempotency_key="b", today=TODAY
    )
    assert again.outcome == "rejected"
    assert _refund_rows(conn, dup.duplicate_invoice_id) == 1


def test_same_idempotency_key_returns_first_result_and_writes_nothing(
    conn: CrmConnection,
) -> None:
    first = request_refund(conn, "C002", "INV-10025", 29.0, "", idempotency_key="k", today=TODAY)
    events = len(list_events(conn, customer_id="C002"))
    replay = request_refund(conn, "C002", "INV-10025", 29.0, "", idempotency_key="k", today=TODAY)
    assert replay == first
    assert _refund_rows(conn, "INV-10025") == 1
    assert len(list_events(conn, customer_id="C002")) == events


def test_large_charge_opens_a_manager_approval_ticket(conn: CrmConnection) -> None:
    (big,) = billing.find_invoices(conn, "C004", amount=750.0)
    result = request_refund(
        conn, "C004", big.id, 750.0, "Onboarding never happened", idempotency_key="m", today=TODAY
    )
    assert result.outcome == "needs_manager_approval"
    assert result.refund_id is None and result.ticket_id is not None
    assert _refund_rows(conn, big.id) == 0
    ticket = get_ticket(conn, result.ticket_id)
    assert ticket is not None
    assert (ticket.kind, ticket.priority, ticket.customer_id) == ("refund_approval", "high", "C004")
    assert big.id in ticket.summary and "Onboarding never happened" in ticket.summary
    replay = request_refund(
        conn, "C004", big.id, 750.0, "Onboarding never happened", idempotency_key="m", today=TODAY
    )
    assert replay.ticket_id == result.ticket_id
    count = conn.execute("SELECT COUNT(*) FROM tickets WHERE kind = 'refund_approval'").fetchone()
    assert count[0] == 1


def test_old_add_on_charge_needs_manager(conn: CrmConnection) -> None:
    (march,) = billing.find_invoices(conn, "C003", amount=49.99, date="2026-03-01")
    result = request_refund(
        conn, "C003", march.id, 49.99, "Never used it", idempotency_key="o", today=TODAY
    )
    assert result.outcome == "needs_manager_approval"
    assert result.ticket_id is not None and _refund_rows(conn, march.id) == 0


def test_recent_small_charge_is_approved_and_mid_size_needs_reason(
    conn: CrmConnection,
) -> None:
    latest = billing.list_invoices(conn, "C001", limit=1)[0]
    small = request_refund(conn, "C001", latest.id, 99.0, "", idempotency_key="s", today=TODAY)
    assert small.outcome == "approved"
    mid = billing.list_invoices(conn, "C006", limit=1)[0]
    assert mid.amount == 299.0
    asked = request_refund(conn, "C006", mid.id, 299.0, "", idempotency_key="r1", today=TODAY)
    assert asked.outcome == "needs_reason" and _refund_rows(conn, mid.id) == 0
    given = request_refund(
        conn, "C006", mid.id, 299.0, "Seats cut", idempotency_key="r2", today=TODAY
    )
    assert given.outcome == "approved" and _refund_rows(conn, mid.id) == 1


def test_another_customers_invoice_is_rejected_as_not_found(conn: CrmConnection) -> None:
    (big,) = billing.find_invoices(conn, "C004", amount=750.0)
    result = request_refund(conn, "C001", big.id, 10.0, "x", idempotency_key="x", today=TODAY)
    assert result.outcome == "rejected"
    assert "not found on your account" in result.explanation
    assert _refund_rows(conn, big.id) == 0


def test_failed_invoice_cannot_be_refunded(conn: CrmConnection) -> None:
    failed = billing.list_invoices(conn, "C005", status="failed")[0]
    result = request_refund(conn, "C005", failed.id, 29.0, "x", idempotency_key="f", today=TODAY)
    assert result.outcome == "rejected" and _refund_rows(conn, failed.id) == 0


def test_refund_requests_are_audited(conn: CrmConnection) -> None:
    request_refund(
        conn, "C002", "INV-10025", 29.0, "", idempotency_key="e", today=TODAY, thread_id="t-1"
    )
    (event,) = list_events(conn, thread_id="t-1", customer_id="C002")
    assert event.kind == "refund_requested"
    assert event.payload["outcome"] == "approved"


# --- plans and offers ----------------------------------------------------------------------


def test_plan_prices_match_design() -> None:
    assert {name: p.monthly_price for name, p in PLANS.items()} == {
        "Free": 0.0,
        "Starter": 29.0,
        "Professional": 99.0,
        "Enterprise": 299.0,
    }


@pytest.mark.parametrize(
    ("name", "plan"),
    [("pro", "Professional"), ("PRO plan", "Professional"), ("enterprise", "Enterprise"),
     ("Starter", "Starter"), ("the free plan", "Free")],
)  # fmt: skip
def test_plan_names_are_matched_case_insensitively(name: str, plan: str) -> None:
    assert resolve_plan(name).name == plan


def test_unknown_plan_lists_valid_names() -> None:
    with pytest.raises(UnknownPlanError, match="Free, Starter, Professional, Enterprise"):
        resolve_plan("platinum")


def test_compare_plans() -> None:
    up = compare_plans("Professional", "enterprise")
    assert (up.direction, up.monthly_difference) == ("upgrade", 200.0)
    assert "SSO with SAML and Okta" in up.features_gained and up.features_lost == []
    down = compare_plans("Professional", "Starter")
    assert (down.direction, down.monthly_difference) == ("downgrade", -70.0)
    assert "Webhooks" in down.features_lost  # Starter has cohorts (KB-036)
    assert compare_plans("pro", "Professional").direction == "same"


def test_offer_within_caps_is_not_clamped(conn: CrmConnection) -> None:
    customer = require_customer(conn, "C001")
    offer = make_offer(customer, "Enterprise", 10, 14)
    assert (offer.discount_pct, offer.trial_days, offer.clamped) == (10.0, 14, False)
    assert offer.discounted_price == 269.1
    assert offer.monthly_difference == 170.1
    exact = make_offer(customer, "Enterprise", MAX_DISCOUNT_PCT, MAX_TRIAL_DAYS)
    assert (exact.discount_pct, exact.trial_days, exact.clamped) == (30.0, 30, False)


@pytest.mark.parametrize(
    ("discount", "trial", "expected"),
    [(45, 14, (30.0, 14)), (10, 60, (10.0, 30)), (30.5, 31, (30.0, 30)), (-5, -1, (0.0, 0))],
)
def test_offer_is_clamped_to_the_caps(
    conn: CrmConnection, discount: float, trial: int, expected: tuple[float, int]
) -> None:
    offer = make_offer(require_customer(conn, "C001"), "enterprise", discount, trial)
    assert (offer.discount_pct, offer.trial_days) == expected
    assert offer.clamped is True
    assert (offer.requested_discount_pct, offer.requested_trial_days) == (discount, trial)


def test_offer_for_a_downgrade_is_refused(conn: CrmConnection) -> None:
    with pytest.raises(ValueError, match="downgrade"):
        make_offer(require_customer(conn, "C001"), "Starter", 10, 0)


def test_upgrade_changes_plan_now_and_is_idempotent(conn: CrmConnection) -> None:
    change = change_plan(conn, "C001", "enterprise", idempotency_key="u", today=TODAY)
    assert (change.from_plan, change.to_plan, change.monthly_difference) == (
        "Professional",
        "Enterprise",
        200.0,
    )
    assert change.effective == "immediately"
    customer = require_customer(conn, "C001")
    assert (customer.plan, customer.mrr) == ("Enterprise", 299.0)
    subscription = current_subscription(conn, "C001")
    assert subscription is not None and subscription.plan == "Enterprise"
    replay = change_plan(conn, "C001", "enterprise", idempotency_key="u", today=TODAY)
    assert replay == change
    rows = conn.execute("SELECT COUNT(*) FROM plan_changes WHERE customer_id = 'C001'").fetchone()
    assert rows[0] == 1
    with pytest.raises(ValueError, match="already on"):
        change_plan(conn, "C001", "Enterprise", idempotency_key="u2", today=TODAY)


def test_upgrade_discount_is_clamped_when_recorded(conn: CrmConnection) -> None:
    change = change_plan(
        conn, "C002", "pro", idempotency_key="d", discount_pct=80, trial_days=90, today=TODAY
    )
    assert (change.discount_pct, change.trial_days) == (30.0, 30)


def test_downgrade_waits_for_renewal(conn: CrmConnection) -> None:
    change = change_plan(conn, "C006", "Starter", idempotency_key="dn", today=TODAY)
    assert change.effective_on == "2026-12-01"
    assert change.effective == "at renewal on 2026-12-01"
    assert require_customer(conn, "C006").plan == "Enterprise"
