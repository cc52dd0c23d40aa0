"""The Lumen product catalogue: plans, prices, seats, limits, features, add-ons and terms.

One fixture, `tools/fixtures/catalogue.json`, is the single source of every plan fact the
tools state (docs/architecture.md "Data and tools": Free $0, Starter $29, Professional $99,
Enterprise $299 per month). `tools.plans` builds its plans from it, the sales tools read
it, and a test checks the knowledge-base articles on plans, retention, seats and limits
against it number by number.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field

CATALOGUE_PATH = Path(__file__).resolve().parent / "fixtures" / "catalogue.json"
"""Where the catalogue fixture lives."""


class PlanTerms(BaseModel):
    """Prices and limits of one plan as the catalogue states them."""

    name: str
    monthly_price: float = Field(description="List price in dollars per month.")
    seats_included: int | None = Field(description="Seats included; None means unlimited.")
    max_seats: int | None = Field(description="Most seats the plan allows; None = no cap.")
    extra_seat_price: float | None = Field(
        description="Dollars per extra seat per month; None when extra seats are not sold."
    )
    events_per_month: int = Field(description="Tracked events included per month.")
    retention_days: int = Field(description="How long raw events are kept, in days.")
    retention: str = Field(description="The retention period in words, e.g. '3 years'.")
    workspaces: int | None = Field(description="Workspaces included; None means unlimited.")
    dashboards: int | None = Field(description="Dashboard cap; None means unlimited.")
    ingestion_requests_per_second: int = Field(description="Event API rate limit per project.")
    query_requests_per_minute: int = Field(description="Query and export API rate limit.")
    uptime_sla_pct: float | None = Field(default=None, description="Uptime commitment, %.")
    support: str


class Feature(BaseModel):
    """A capability and the cheapest plan that has it (every higher plan has it too)."""

    name: str
    plan: str = Field(description="Cheapest plan that includes the feature.")
    keywords: list[str] = Field(description="Lower-case words customers use for it.")


class AddOn(BaseModel):
    """An add-on sold on top of a plan, billed monthly."""

    name: str
    monthly_price: float = Field(description="Dollars per month.")
    plans: list[str] = Field(description="Plans the add-on can be bought on.")
    description: str
    events_per_month: int | None = None
    max_packs: int | None = None


class AnnualBilling(BaseModel):
    """Annual billing terms (KB-032)."""

    months_charged: int = Field(description="An annual plan costs this many monthly prices.")
    summary: str
    reminder_days: int
    switch_to_annual: str
    switch_to_monthly: str


class Trial(BaseModel):
    """Self-service trial terms (KB-038)."""

    plan: str
    days: int
    card_required: bool
    max_days_with_extension: int
    summary: str


class Cancellation(BaseModel):
    """Cancellation terms (KB-033); money in dollars, fees in percent."""

    monthly_fee: float
    annual_early_termination_pct: float
    fee_free_days: int
    free_plan_grace_days: int
    summary: str


class Discounts(BaseModel):
    """Standing discounts for education and non-profit customers, in percent."""

    education_pct: float
    nonprofit_pct: float
    summary: str


class Catalogue(BaseModel):
    """The whole catalogue; plans are listed cheapest first."""

    currency: str
    plans: list[PlanTerms]
    features: list[Feature]
    addons: list[AddOn]
    annual_billing: AnnualBilling
    trial: Trial
    cancellation: Cancellation
    discounts: Discounts

    def plan_names(self) -> list[str]:
        """Plan names, cheapest first."""
        return [p.name for p in self.plans]

    def plan(self, name: str) -> PlanTerms:
        """The plan called exactly `name`.

        Raises:
            KeyError: when the catalogue has no such plan.
        """
        for terms in self.plans:
            if terms.name == name:
                return terms
        raise KeyError(name)

    def features_of(self, name: str) -> list[str]:
        """Names of every feature plan `name` includes (its own and those of cheaper plans)."""
        rank = self.plan_names().index(name)
        order = self.plan_names()
        return [f.name for f in self.features if order.index(f.plan) <= rank]

    def features_matching(self, text: str) -> list[Feature]:
        """Features whose keywords occur as whole words in `text` (any case), in catalogue order."""
        lowered = " ".join(text.lower().replace("-", " ").split())
        found: list[Feature] = []
        for feature in self.features:
            for keyword in feature.keywords:
                pattern = r"\b" + re.escape(keyword.replace("-", " ")) + r"s?\b"
                if re.search(pattern, lowered):
                    found.append(feature)
                    break
        return found

    def cheapest_plan_with(self, features: list[Feature]) -> str:
        """The cheapest plan that includes all of `features` (Free for an empty list)."""
        order = self.plan_names()
        return order[max((order.index(f.plan) for f in features), default=0)]

    def seat_cost(self, name: str, seats: int) -> float | None:
        """Monthly dollars for `seats` seats on plan `name`: the plan price plus extra seats
        beyond those included; None when the plan cannot hold that many seats.

        Raises:
            KeyError: for an unknown plan.
            ValueError: for fewer than 1 seat.
        """
        if seats < 1:
            raise ValueError("A team has at least 1 seat")
        plan = self.plan(name)
        if plan.seats_included is None or seats <= plan.seats_included:
            return plan.monthly_price
        if plan.max_seats is not None and seats > plan.max_seats:
            return None
        if plan.extra_seat_price is None:
            return None
        return round(plan.monthly_price + (seats - plan.seats_included) * plan.extra_seat_price, 2)

    def cheapest_plan_for_team(self, seats: int) -> tuple[str, float]:
        """(plan name, monthly dollars) of the cheapest plan that holds `seats` seats.

        Raises:
            ValueError: for fewer than 1 seat.
        """
        options = [
            (cost, rank, name)
            for rank, name in enumerate(self.plan_names())
            if (cost := self.seat_cost(name, seats)) is not None
        ]
        cost, _, name = min(options)
        return name, cost


def load_catalogue(path: str | Path = CATALOGUE_PATH) -> Catalogue:
    """Read and validate a catalogue file.

    Raises:
        ValueError: when the file is not JSON or does not have the catalogue's shape
            (pydantic's `ValidationError` is a `ValueError`), or a feature names a plan the
            catalogue does not have.
        OSError: when the file cannot be read.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a catalogue file ({exc})") from exc
    catalogue = Catalogue.model_validate(raw)
    names = set(catalogue.plan_names())
    for feature in catalogue.features:
        if feature.plan not in names:
            raise ValueError(f"{path}: feature {feature.name!r} names unknown plan {feature.plan}")
    return catalogue


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue, read once per process."""
    return load_catalogue()


def plan_facts(book: Catalogue, team_size: int | None = None, needs: str = "") -> dict:
    """The catalogue as a sales answer needs it, with optional look-ups for one question.

    Args:
        book: the catalogue.
        team_size: seats the customer needs; adds `for_team` = {seats, plan, monthly_cost,
            cost_by_plan} (dollars per month; None for a plan that cannot hold the team).
        needs: the customer's words about features; adds `for_features` = {features,
            plan} with the cheapest plan that has every feature named (empty when none is).

    Returns:
        JSON-ready dict: `plans` (price, seats, extra seats, events, retention, features),
        `addons`, `annual_billing`, `trial`, `cancellation`, `discounts`.

    Raises:
        ValueError: for a team size below 1.
    """
    facts: dict = {
        "plans": [{**p.model_dump(), "features": book.features_of(p.name)} for p in book.plans],
        "addons": [a.model_dump() for a in book.addons],
        "annual_billing": book.annual_billing.model_dump(),
        "trial": book.trial.model_dump(),
        "cancellation": book.cancellation.model_dump(),
        "discounts": book.discounts.model_dump(),
    }
    if team_size is not None:
        plan, cost = book.cheapest_plan_for_team(team_size)
        facts["for_team"] = {
            "seats": team_size,
            "plan": plan,
            "monthly_cost": cost,
            "cost_by_plan": {n: book.seat_cost(n, team_size) for n in book.plan_names()},
        }
    if needs.strip():
        asked = book.features_matching(needs)
        facts["for_features"] = {
            "features": [f.model_dump(exclude={"keywords"}) for f in asked],
            "plan": book.cheapest_plan_with(asked) if asked else None,
        }
    return facts
