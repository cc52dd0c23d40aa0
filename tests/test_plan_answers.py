"""Plan questions answered right, end to end on the real graph with the `local` model:
comparisons in either direction, the plan the customer already has, feature look-ups,
seats, annual billing, trials and cancellation, and no change without a yes."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from app.service import SupportService
from graph.identity import Caller
from tests.conftest import crm_rows

DIFFERENCE = "What's the difference between Professional and Enterprise?"


def plan_changes(service: SupportService, customer: str) -> list:
    return crm_rows(service, "SELECT * FROM plan_changes WHERE customer_id = ?", customer)


def calls(service: SupportService, thread: str, name: str) -> list[dict]:
    messages = service.state(thread, caller=Caller.agent())["messages"]
    return [
        c["args"]
        for m in messages
        if isinstance(m, AIMessage)
        for c in m.tool_calls
        if c["name"] == name
    ]


def test_difference_asked_on_professional_is_the_upgrade_with_gains(
    service: SupportService,
) -> None:
    result = service.send(DIFFERENCE, thread_id="t-diff-pro", customer_id="C001")
    assert result.agent == "sales"
    assert "$0.00" not in result.reply
    assert "Enterprise costs $200.00 more per month than Professional" in result.reply
    assert "Audit log" in result.reply and "unlimited" in result.reply
    assert calls(service, "t-diff-pro", "compare_plans") == [
        {"target_plan": "Enterprise", "from_plan": "Professional"}
    ]
    assert plan_changes(service, "C001") == []


def test_difference_asked_on_enterprise_is_the_downgrade_with_losses(
    service: SupportService,
) -> None:
    result = service.send(DIFFERENCE, thread_id="t-diff-ent", customer_id="C006")
    assert "Professional costs $200.00 less per month than Enterprise" in result.reply
    assert "does not include: SSO with SAML and Okta" in result.reply
    assert "You're on Enterprise" in result.reply and "$0.00" not in result.reply


def test_difference_asked_on_starter_compares_the_two_plans_named(
    service: SupportService,
) -> None:
    result = service.send(DIFFERENCE, thread_id="t-diff-start", customer_id="C002")
    assert "Enterprise costs $200.00 more per month than Professional" in result.reply
    assert "You're on Starter" in result.reply


def test_asking_for_the_plan_you_have_is_told_so_and_offered_the_next(
    service: SupportService,
) -> None:
    first = service.send(
        "I'm interested in upgrading my plan to the Pro tier. Can you tell me about the pricing?",
        thread_id="t-same",
        customer_id="C001",
    )
    assert "You're already on Professional ($99.00/month)" in first.reply
    assert "lower your bill" not in first.reply and "$0.00" not in first.reply
    assert "Enterprise at $299.00/month ($200.00 more)" in first.reply
    second = service.send("yes please", thread_id="t-same", customer_id="C001")
    assert "I can offer" in second.reply and "Shall I make the change" in second.reply
    assert plan_changes(service, "C001") == []


def test_feature_question_names_the_plan_that_has_it(service: SupportService) -> None:
    result = service.send(
        "Which plan do I need to get SAML single sign-on and audit logs?",
        thread_id="t-feature",
        customer_id="C001",
    )
    assert result.agent == "sales"
    assert "included from Enterprise ($299.00/month)" in result.reply
    assert "KB-013" not in result.reply
    assert calls(service, "t-feature", "get_plan_catalogue")


def test_team_size_question_explains_seats_and_the_fit(service: SupportService) -> None:
    result = service.send(
        "How many seats do I get on Starter? We are a team of 12.",
        thread_id="t-seats",
        customer_id="C002",
    )
    for fact in (
        "Starter: 5 seats included, extra seats $10.00 each per month (at most 10 in total)",
        "Enterprise: unlimited seats",
        "For 12 people the best fit is Professional at $99.00/month",
    ):
        assert fact in result.reply


def test_annual_billing_trial_and_cancellation_terms_change_nothing(
    service: SupportService,
) -> None:
    annual = service.send(
        "Do you offer annual billing instead of monthly?", thread_id="t-annual", customer_id="C002"
    )
    assert "two months free" in annual.reply and "Professional $990.00/year" in annual.reply
    trial = service.send("How does the free trial work?", thread_id="t-trial", customer_id="C002")
    assert "14 days" in trial.reply and "30 days in total" in trial.reply
    cancel = service.send(
        "What happens if I cancel my annual plan?", thread_id="t-cancel", customer_id="C002"
    )
    assert "50 % of the fees for the remaining full months" in cancel.reply
    assert "Nothing changes until you confirm" in cancel.reply
    assert plan_changes(service, "C002") == []


def test_downgrade_quotes_savings_and_losses_then_waits_for_a_yes(
    service: SupportService,
) -> None:
    quote = service.send("I want to downgrade to Starter", thread_id="t-down", customer_id="C001")
    assert "lowers your bill by $70.00 per month" in quote.reply
    assert "You'd lose: Warehouse sync" in quote.reply and quote.reply.count("?") == 1
    assert plan_changes(service, "C001") == []
    done = service.send("yes, go ahead", thread_id="t-down", customer_id="C001")
    rows = plan_changes(service, "C001")
    assert [(r["from_plan"], r["to_plan"]) for r in rows] == [("Professional", "Starter")]
    assert "at renewal" in done.reply


def test_a_yes_answers_only_the_latest_question_never_an_older_offer(
    service: SupportService,
) -> None:
    offer = service.send(
        "I'd like to upgrade to Professional", thread_id="t-old", customer_id="C002"
    )
    assert "Shall I make the change" in offer.reply
    service.send("What happens if I cancel my annual plan?", thread_id="t-old", customer_id="C002")
    service.send("yes", thread_id="t-old", customer_id="C002")
    assert plan_changes(service, "C002") == []


def test_an_education_discount_question_is_answered_by_sales_from_the_catalogue(
    service: SupportService,
) -> None:
    result = service.send(
        "Do you have an education discount for universities?",
        thread_id="t-edu",
        customer_id="C009",
    )
    assert result.agent == "sales"
    assert "50 % off Starter and Professional" in result.reply
    assert plan_changes(service, "C009") == []
