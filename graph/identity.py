"""Who is asking: the caller of a read or a write on a conversation.

A customer is identified by the signed-in customer ID (from the runtime context or a verified
token), never by a value in a request body or a model-written argument. Support-team
callers (`agent`, `admin`) may read any conversation; their reads are explicit and logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["customer", "agent", "admin"]
"""`customer`: one account's own threads; `agent`: the support team (inbox, replies,
approvals); `admin`: agents' rights plus time travel, keys and webhooks."""

ROLES: tuple[Role, ...] = ("customer", "agent", "admin")


@dataclass(frozen=True)
class Caller:
    """The identity behind one request.

    Raises:
        ValueError: a `customer` caller without a customer ID, or a support-team caller
            with one.
    """

    role: Role
    """What the caller may do (see `Role`)."""
    customer_id: str | None = None
    """The signed-in customer for `role == "customer"`; None for the support team."""
    name: str = ""
    """Who the caller is, for the audit log (a person's or an API key's name)."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Unknown role {self.role!r}; use one of {', '.join(ROLES)}.")
        if self.role == "customer" and not self.customer_id:
            raise ValueError("A customer caller needs the signed-in customer ID.")
        if self.role != "customer" and self.customer_id is not None:
            raise ValueError("Support-team callers are not tied to one customer.")

    @classmethod
    def customer(cls, customer_id: str) -> Caller:
        """The signed-in customer `customer_id` (e.g. `C001`), reading their own threads."""
        return cls("customer", customer_id, customer_id)

    @classmethod
    def agent(cls, name: str = "support agent") -> Caller:
        """A support agent: reads any thread, answers escalations, decides approvals."""
        return cls("agent", None, name)

    @classmethod
    def admin(cls, name: str = "admin") -> Caller:
        """An administrator: an agent's rights plus checkpoints, replay and fork."""
        return cls("admin", None, name)

    @property
    def is_support_team(self) -> bool:
        """True for `agent` and `admin` callers."""
        return self.role != "customer"

    def may_read(self, owner: str | None) -> bool:
        """Whether this caller may read a thread owned by customer `owner`."""
        return self.is_support_team or (owner is not None and owner == self.customer_id)
