"""The demo conversations: the standard cases the embedded model must resolve."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    """A scripted conversation for `support-swarm demo`."""

    title: str
    customer_id: str
    messages: tuple[str, ...]
    resume_in_new_process: tuple[str, ...] = field(default_factory=tuple)
    """Messages sent afterwards by a separate `support-swarm ask --thread` process."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("API errors", "C001", ("My API calls keep returning 500 errors since this morning",)),
    Scenario(
        "Duplicate charge",
        "C002",
        ("I was charged twice this month and want my money back",),
    ),
    Scenario(
        "Explain a charge",
        "C003",
        ("Can you explain what the $49.99 charge on March 1st was for?",),
    ),
    Scenario("How-to", "C001", ("How do I export my data to CSV?",)),
    Scenario(
        "Upgrade, confirmed after a restart",
        "C001",
        ("I want to upgrade from Professional to Enterprise",),
        resume_in_new_process=("yes, please do that",),
    ),
    Scenario(
        "Topic change mid-conversation",
        "C005",
        ("I have a question about my last invoice", "Actually, can I also upgrade my plan?"),
    ),
    Scenario("Vague request", "C001", ("I have a question about my account",)),
    Scenario("Asks for a human", "C001", ("Let me speak to a human, this is unacceptable",)),
    Scenario("Large refund", "C004", ("Refund my $750 charge",)),
    Scenario("Out of scope", "C001", ("What's the weather in Paris?",)),
)
"""Every scenario runs on its own thread."""

INVALID_INPUTS: tuple[tuple[str, str], ...] = (
    ("C999", "Hello, I need help with my invoice"),
    ("C001", "   "),
    ("C001", "x" * 100_000),
)
"""(customer, message) pairs that must be refused with a clear error."""

HUMAN_ACTIONS: tuple[tuple[str, list[str]], ...] = (
    (
        "demo-08",
        [
            "reply",
            "I'm Priya from the support team. I'm sorry for the trouble; I've reviewed your "
            "account and I'm here to sort this out with you now.",
            "--agent",
            "Priya",
        ],
    ),
    ("demo-09", ["approve", "--by", "Sam (billing manager)"]),
)
"""(thread, CLI arguments) a human runs after the demo: answer the escalation, approve the
large refund. Threads are those of `SCENARIOS` (numbered from 1)."""
