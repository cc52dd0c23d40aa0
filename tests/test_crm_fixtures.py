"""Generated CRM fixtures: determinism, size, variety and the fixed scenario customers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from storage.crm_database import CRM_FIXTURE
from tools.fixtures.generate import build, main, render

DATA = build()
INVOICES = DATA["invoices"]


def _invoices(customer_id: str) -> list[dict]:
    return sorted(
        (i for i in INVOICES if i["customer_id"] == customer_id), key=lambda i: i["issued_on"]
    )


def _customer(customer_id: str) -> dict:
    return next(c for c in DATA["customers"] if c["id"] == customer_id)


def test_generator_is_deterministic_and_committed_file_is_current() -> None:
    assert render(build()) == render(DATA)
    assert CRM_FIXTURE.read_text(encoding="utf-8") == render(DATA)
    assert json.loads(CRM_FIXTURE.read_text(encoding="utf-8")) == DATA


def test_cli_writes_the_file_and_check_flags_a_stale_copy(tmp_path: Path) -> None:
    output = tmp_path / "crm.json"
    assert main(["--check", "--output", str(output)]) == 1
    assert main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == CRM_FIXTURE.read_text(encoding="utf-8")
    assert main(["--check", "--output", str(output)]) == 0
    output.write_text(output.read_text(encoding="utf-8").replace("C060", "C061"), "utf-8")
    assert main(["--check", "--output", str(output)]) == 1


def test_sizes_and_ids() -> None:
    customers = DATA["customers"]
    assert len(customers) >= 50
    assert len(INVOICES) >= 300
    assert [c["id"] for c in customers] == [f"C{n:03d}" for n in range(1, len(customers) + 1)]
    assert len({c["email"] for c in customers}) == len(customers)
    assert all(c["email"].endswith(".example") for c in customers)
    assert {c["plan"] for c in customers} == {"Free", "Starter", "Professional", "Enterprise"}
    assert {c["tier"] for c in customers} == {"standard", "priority", "enterprise"}
    tags = {t for c in customers for t in c["tags"]}
    assert {"vip", "at-risk", "beta", "annual"} <= tags
    assert min(i["issued_on"] for i in INVOICES) >= "2025-12-01"
    assert max(i["issued_on"][:7] for i in INVOICES) == "2026-11"


def test_variety_of_billing_situations() -> None:
    today = date(2026, 11, 22)
    assert any(i["status"] == "failed" for i in INVOICES if i["customer_id"] != "C005")
    assert sum(p["status"] == "failed" for p in DATA["payments"]) >= 10
    assert sum(i["amount"] > 500 for i in INVOICES) >= 5
    assert any((today - date.fromisoformat(i["issued_on"])).days > 30 for i in INVOICES)
    duplicate_pairs = [
        (a, b)
        for a, b in zip(INVOICES, INVOICES[1:], strict=False)
        if a["customer_id"] == b["customer_id"]
        and (a["amount"], a["description"]) == (b["amount"], b["description"])
        and a["status"] == b["status"] == "paid"
    ]
    assert len(duplicate_pairs) >= 3
    assert DATA["refunds"] and DATA["tickets"] and DATA["plan_changes"]


def test_scenario_c001_professional_default_customer() -> None:
    c = _customer("C001")
    assert (c["plan"], c["tier"], c["mrr"]) == ("Professional", "standard", 99.0)
    latest = _invoices("C001")[-1]
    assert (latest["issued_on"], latest["status"], latest["amount"]) == ("2026-11-01", "paid", 99.0)


def test_scenario_c002_duplicate_november_charge() -> None:
    assert _customer("C002")["plan"] == "Starter"
    november = [i for i in _invoices("C002") if i["description"] == "Starter plan - November 2026"]
    assert [(i["issued_on"], i["amount"], i["status"]) for i in november] == [
        ("2026-11-01", 29.0, "paid"),
        ("2026-11-02", 29.0, "paid"),
    ]


def test_scenario_c003_priority_support_add_on() -> None:
    c = _customer("C003")
    assert c["plan"] == "Professional" and "Priority Support add-on" in c["addons"]
    march = [
        i for i in _invoices("C003") if i["issued_on"] == "2026-03-01" and i["amount"] == 49.99
    ]
    assert len(march) == 1
    assert march[0]["description"] == "Priority Support add-on - March 2026"
    assert (march[0]["plan"], march[0]["status"]) == ("Professional", "paid")


def test_scenario_c004_large_onboarding_invoice() -> None:
    assert _customer("C004")["tier"] == "priority"
    big = [i for i in _invoices("C004") if i["amount"] == 750.0]
    assert [(i["issued_on"], i["status"]) for i in big] == [("2026-11-10", "paid")]


def test_scenario_c005_failed_latest_payment() -> None:
    latest = _invoices("C005")[-1]
    assert latest["status"] == "failed"
    reasons = {p["failure_reason"] for p in DATA["payments"] if p["invoice_id"] == latest["id"]}
    assert reasons == {"card_declined"}


def test_scenario_c006_enterprise_vip() -> None:
    c = _customer("C006")
    assert (c["plan"], c["tier"]) == ("Enterprise", "enterprise")
    assert "vip" in c["tags"]
