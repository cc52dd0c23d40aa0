"""The product catalogue is the one source of plan facts: the plan tools read it and every
number in the knowledge base's plan, retention, seat, limit, trial, cancellation and add-on
articles is checked against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.catalogue import Catalogue, PlanTerms, catalogue, load_catalogue
from tools.knowledge_base import parse_article
from tools.plans import PLANS, compare_plans

KB = Path(__file__).resolve().parents[1] / "tools" / "fixtures" / "kb"
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)(\s+million)?")


def article_body(article_id: str) -> str:
    path = next(KB.glob(f"{article_id.lower()}-*.md"))
    return parse_article(path.read_text(encoding="utf-8")).body


def numbers_in(text: str) -> set[float]:
    """Every number in `text`; '1 million' is 1000000 and '100,000' is 100000."""
    found: set[float] = set()
    for digits, million in _NUMBER.findall(text):
        value = float(digits.replace(",", "").rstrip("."))
        found.add(value * 1_000_000 if million else value)
    return found


def plan_numbers(plan: PlanTerms) -> set[float]:
    values = [
        plan.monthly_price,
        plan.seats_included,
        plan.max_seats,
        plan.extra_seat_price,
        plan.events_per_month,
        plan.workspaces,
        plan.dashboards,
        plan.uptime_sla_pct,
    ]
    return {float(v) for v in values if v is not None} | numbers_in(plan.retention)


@pytest.fixture(scope="module")
def book() -> Catalogue:
    return catalogue()


def test_plan_prices_and_limits_come_from_the_catalogue(book: Catalogue) -> None:
    assert {n: p.monthly_price for n, p in PLANS.items()} == {
        p.name: p.monthly_price for p in book.plans
    }
    assert [p.retention for p in PLANS.values()] == [
        "90 days",
        "1 year",
        "3 years",
        "up to 7 years",
    ]
    assert PLANS["Enterprise"].seats_included is None
    assert "Unlimited data history" not in PLANS["Professional"].features


def test_every_number_of_a_plan_line_in_the_plan_comparison_article_is_that_plans(
    book: Catalogue,
) -> None:
    lines = {
        line.split(",")[0].split(". ", 1)[-1]: line for line in article_body("KB-036").splitlines()
    }
    for plan in book.plans:
        line = lines[plan.name].split(". ", 1)[1]
        assert numbers_in(line) <= plan_numbers(plan), (plan.name, line)
        assert f"${plan.monthly_price:g}" in line
        assert plan.retention in line
        seats = "unlimited seats" if plan.seats_included is None else f"{plan.seats_included} seats"
        assert seats in line


def test_retention_seat_and_rate_limit_articles_match_the_catalogue(book: Catalogue) -> None:
    retention = article_body("KB-022")
    seats = article_body("KB-020")
    limits = article_body("KB-002")
    for plan in book.plans:
        assert f"{plan.retention} on {plan.name}" in retention
        if plan.seats_included is not None:
            assert f"{plan.seats_included} on {plan.name}" in seats
        rate = f"{plan.ingestion_requests_per_second:,}"
        assert re.search(rf"{rate} (?:requests per second )?on {plan.name}", limits), plan.name
    assert "unlimited seats on Enterprise" in seats
    assert f"${book.plan('Starter').extra_seat_price:g} per seat" in seats
    assert f"at most {book.plan('Starter').max_seats} seats" in seats
    assert f"({book.plan('Enterprise').query_requests_per_minute} on Enterprise)" in limits


def test_trial_cancellation_annual_and_add_on_articles_match_the_catalogue(
    book: Catalogue,
) -> None:
    trial = article_body("KB-038")
    assert f"for {book.trial.days} days" in trial
    assert f"up to {book.trial.max_days_with_extension} days in total" in trial
    cancel = article_body("KB-033")
    assert f"{book.cancellation.annual_early_termination_pct:g} % of the fees" in cancel
    assert f"within {book.cancellation.fee_free_days} days" in cancel
    assert f"{book.annual_billing.months_charged} months" in article_body("KB-032")
    addons = article_body("KB-041")
    for addon in book.addons:
        assert f"${addon.monthly_price:g}" in addons
    assert numbers_in(addons) <= {4.0, 80.0, 100.0, 429.0, 1.0, 2.0, 3.0, 5.0} | {
        float(n) for a in book.addons for n in (a.monthly_price, a.max_packs or 0)
    } | {5_000_000.0}


def test_feature_lookup_finds_the_cheapest_plan_with_everything_asked(book: Catalogue) -> None:
    asked = book.features_matching(
        "Which plan do I need to get SAML single sign-on and audit logs?"
    )
    assert {f.name for f in asked} == {"SSO with SAML and Okta", "Audit log"}
    assert book.cheapest_plan_with(asked) == "Enterprise"
    assert book.cheapest_plan_with(book.features_matching("I need cohorts and Slack")) == "Starter"
    assert book.features_matching("What's the weather like?") == []


def test_comparison_works_in_both_directions() -> None:
    down = compare_plans("Enterprise", "Professional")
    assert (down.direction, down.monthly_difference) == ("downgrade", -200.0)
    assert "Audit log" in down.features_lost and down.features_gained == []
    assert "seats included: unlimited -> 20" in down.limit_changes
    up = compare_plans("Starter", "Enterprise")
    assert up.monthly_difference == 270.0 and "Webhooks" in up.features_gained


def test_a_broken_catalogue_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "catalogue.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a catalogue file"):
        load_catalogue(bad)


def test_annual_prices_and_discounts_in_the_kb_match_the_catalogue(book: Catalogue) -> None:
    annual = article_body("KB-046")
    for plan in book.plans[1:]:
        yearly = plan.monthly_price * book.annual_billing.months_charged
        assert f"{plan.name} ${yearly:,.0f} per year" in annual
    discounts = article_body("KB-047")
    assert f"{book.discounts.education_pct:g} % off Starter and Professional" in discounts
    assert f"get {book.discounts.nonprofit_pct:g} % off" in discounts
