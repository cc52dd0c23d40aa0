"""The read-only plan tools: comparisons between any two plans, the catalogue with its
team-size and feature look-ups, and service status narrowed to the customer's problem."""

from __future__ import annotations

import pytest

from tests.test_agent_tools import call, crm  # noqa: F401  (fixture)
from tools.catalogue import catalogue


def test_compare_plans_tool_compares_any_two_plans(crm: str) -> None:  # noqa: F811
    own = call(crm, "compare_plans", {"target_plan": "Starter"}, customer="C006")
    assert (own["current_plan"], own["customer_plan"], own["direction"]) == (
        "Enterprise",
        "Enterprise",
        "downgrade",
    )
    other = call(
        crm, "compare_plans", {"target_plan": "Enterprise", "from_plan": "pro"}, customer="C002"
    )
    assert (other["current_plan"], other["customer_plan"]) == ("Professional", "Starter")
    assert other["monthly_difference"] == 200.0 and "Audit log" in other["features_gained"]
    unknown = call(crm, "compare_plans", {"target_plan": "Platinum"})
    assert unknown["ok"] is False and "valid plans are" in unknown["error"]


def test_plan_catalogue_tool_sizes_teams_and_finds_features(crm: str) -> None:  # noqa: F811
    facts = call(
        crm,
        "get_plan_catalogue",
        {"team_size": 25, "needs": "we need webhooks and salesforce"},
        customer="C002",
    )
    assert facts["customer_plan"] == "Starter"
    assert [p["name"] for p in facts["plans"]] == ["Free", "Starter", "Professional", "Enterprise"]
    assert facts["for_team"]["plan"] == "Professional"
    assert facts["for_team"]["monthly_cost"] == 149.0  # 99 + 5 extra seats at $10
    assert facts["for_team"]["cost_by_plan"]["Starter"] is None  # Starter caps at 10 seats
    assert facts["for_features"]["plan"] == "Professional"
    bad = call(crm, "get_plan_catalogue", {"team_size": 0})
    assert bad["ok"] is False and "at least 1 seat" in bad["error"]


@pytest.mark.parametrize(
    ("seats", "plan", "cost"),
    [(2, "Free", 0.0), (3, "Starter", 29.0), (8, "Starter", 59.0), (12, "Professional", 99.0),
     (60, "Enterprise", 299.0)],
)  # fmt: skip
def test_cheapest_plan_for_a_team_counts_extra_seats_and_caps(
    seats: int, plan: str, cost: float
) -> None:
    assert catalogue().cheapest_plan_for_team(seats) == (plan, cost)


def test_service_status_tool_names_only_the_incident_that_matches(crm: str) -> None:  # noqa: F811
    errors = call(crm, "get_service_status", {"problem": "API calls return 500 errors"})
    assert [c["name"] for c in errors["relevant"]] == ["Event API"]
    assert call(crm, "get_service_status", {"problem": "password reset"})["relevant"] == []
    assert "Event API" in call(crm, "get_service_status")["degraded"]
