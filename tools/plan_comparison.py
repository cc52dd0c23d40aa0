"""Lumen plans by name, plan-name matching and the comparison of any two plans.

Every figure comes from the product catalogue (`tools.catalogue`); prices follow
docs/architecture.md "Plans": Free $0, Starter $29, Professional $99, Enterprise $299 per
month.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.catalogue import catalogue


class Plan(BaseModel):
    """One Lumen plan, as stated in the product catalogue (`tools/fixtures/catalogue.json`)."""

    name: str
    monthly_price: float = Field(description="List price in dollars per month.")
    seats_included: int | None = Field(description="Seats included; None means unlimited.")
    extra_seat_price: float | None = Field(
        default=None, description="Dollars per extra seat per month; None when not sold."
    )
    max_seats: int | None = Field(default=None, description="Seat cap; None means no cap.")
    events_per_month: int = Field(description="Tracked events included per month.")
    retention: str = Field(default="", description="Data retention in words, e.g. '3 years'.")
    retention_days: int = Field(default=0, description="Data retention in days.")
    features: list[str] = Field(description="Everything the plan includes (cumulative).")


def _plans() -> dict[str, Plan]:
    book = catalogue()
    return {
        terms.name: Plan(
            name=terms.name,
            monthly_price=terms.monthly_price,
            seats_included=terms.seats_included,
            extra_seat_price=terms.extra_seat_price,
            max_seats=terms.max_seats,
            events_per_month=terms.events_per_month,
            retention=terms.retention,
            retention_days=terms.retention_days,
            features=book.features_of(terms.name),
        )
        for terms in book.plans
    }


PLANS: dict[str, Plan] = _plans()
"""Plans by name, cheapest first."""

PLAN_ORDER: tuple[str, ...] = tuple(PLANS)
"""Plan names from cheapest to most expensive."""

_ALIASES = {
    "free": "Free",
    "starter": "Starter",
    "start": "Starter",
    "pro": "Professional",
    "professional": "Professional",
    "prof": "Professional",
    "enterprise": "Enterprise",
    "ent": "Enterprise",
}


class UnknownPlanError(ValueError):
    """Raised for a plan name that matches no plan; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown plan {name!r}; valid plans are {', '.join(PLAN_ORDER)}")
        self.name = name


def resolve_plan(name: str) -> Plan:
    """Return the plan called `name`, matched case-insensitively.

    Accepts short forms and a trailing "plan": `pro`, `Pro plan`, `ENTERPRISE`, `starter`.

    Raises:
        UnknownPlanError: if nothing matches.
    """
    key = " ".join(name.lower().replace("-", " ").split())
    key = key.removeprefix("the ").removesuffix(" plan").removesuffix(" tier").strip()
    canonical = _ALIASES.get(key)
    if canonical is None:
        raise UnknownPlanError(name)
    return PLANS[canonical]


Direction = Literal["upgrade", "downgrade", "same"]


class PlanComparison(BaseModel):
    """Difference between two plans; money in dollars per month."""

    current_plan: str
    target_plan: str
    current_price: float
    target_price: float
    monthly_difference: float = Field(description="target minus current, dollars per month.")
    direction: Direction
    features_gained: list[str]
    features_lost: list[str]
    target_seats_included: int | None
    limit_changes: list[str] = Field(
        default_factory=list,
        description="Limits that differ, as 'seats included: 20 -> unlimited' lines.",
    )


def _count(value: int | None, unit: str = "") -> str:
    if value is None:
        return "unlimited"
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value // 1_000_000} million{unit}"
    return f"{value:,}{unit}"


def limit_changes(old: Plan, new: Plan) -> list[str]:
    """The limits that differ between two plans, as 'name: old -> new' lines.

    Covers seats included, tracked events per month and data retention (catalogue figures).
    """
    pairs = [
        ("seats included", _count(old.seats_included), _count(new.seats_included)),
        ("events per month", _count(old.events_per_month), _count(new.events_per_month)),
        ("data retention", old.retention, new.retention),
    ]
    return [f"{name}: {a} -> {b}" for name, a, b in pairs if a != b]


def compare_plans(current: str, target: str) -> PlanComparison:
    """Compare plan `current` with plan `target` (names matched as in `resolve_plan`).

    Works in either direction: `features_gained` are in `target` but not `current`,
    `features_lost` the reverse; `monthly_difference` is target minus current in dollars.

    Raises:
        UnknownPlanError: if either name is unknown.
    """
    old, new = resolve_plan(current), resolve_plan(target)
    old_rank, new_rank = PLAN_ORDER.index(old.name), PLAN_ORDER.index(new.name)
    direction: Direction = (
        "same" if old_rank == new_rank else "upgrade" if new_rank > old_rank else "downgrade"
    )
    return PlanComparison(
        current_plan=old.name,
        target_plan=new.name,
        current_price=old.monthly_price,
        target_price=new.monthly_price,
        monthly_difference=round(new.monthly_price - old.monthly_price, 2),
        direction=direction,
        features_gained=[f for f in new.features if f not in old.features],
        features_lost=[f for f in old.features if f not in new.features],
        target_seats_included=new.seats_included,
        limit_changes=limit_changes(old, new),
    )
