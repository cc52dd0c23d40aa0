"""The analytics report: a table in the terminal, `report.json` and PNG charts (matplotlib)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tools.analytics import Analytics  # noqa: E402

RATES = (
    ("containment_rate", "containment"),
    ("escalation_rate", "escalation"),
    ("handoff_rate", "handoff"),
    ("first_contact_resolution", "first-contact\\nresolution"),
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_report(figures: Analytics, console: Console) -> None:
    """Print the figures as a table."""
    table = Table("figure", "value", title=f"Support analytics {figures.since} to {figures.until}")
    table.add_row("conversations", str(figures.conversations))
    table.add_row("customer turns", str(figures.customer_turns))
    for field, label in RATES:
        table.add_row(label.replace("\\n", " ") + " rate", _percent(getattr(figures, field)))
    paths = ", ".join(f"{path} ({count})" for path, count in figures.top_handoff_paths)
    table.add_row("top handoff paths", paths or "-")
    table.add_row("median turns per conversation", str(figures.median_turns_per_conversation))
    table.add_row(
        "refunds executed",
        f"{figures.refunds_executed} (${figures.refunds_executed_dollars:,.2f})",
    )
    table.add_row(
        "refunds pending approval",
        f"{figures.refunds_pending_approval} (${figures.refunds_pending_dollars:,.2f})",
    )
    table.add_row("model calls per turn", str(figures.model_calls_per_turn))
    console.print(table)


def _rates_chart(figures: Analytics, path: Path) -> None:
    labels = [label.replace("\\n", "\n") for _, label in RATES]
    values = [(getattr(figures, field) or 0.0) * 100 for field, _ in RATES]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(labels, values, color=["#2a9d8f", "#e76f51", "#e9c46a", "#264653"])
    ax.bar_label(bars, fmt="%.0f%%")
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of conversations (handoff: % of turns)")
    ax.set_title(f"Resolution and escalation ({figures.conversations} conversations)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _volume_chart(figures: Analytics, path: Path) -> None:
    days = sorted(figures.volume_per_intent_per_day)
    intents = sorted({i for d in days for i in figures.volume_per_intent_per_day[d]})
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0] * len(days)
    for intent in intents:
        counts = [figures.volume_per_intent_per_day[d].get(intent, 0) for d in days]
        ax.bar(days, counts, bottom=bottom, label=intent)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_ylabel("customer turns")
    ax.set_title("Volume per intent per day")
    if intents:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _handoff_chart(figures: Analytics, path: Path) -> None:
    paths = [p for p, _ in figures.top_handoff_paths][::-1]
    counts = [c for _, c in figures.top_handoff_paths][::-1]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(paths or ["(no handoffs)"], counts or [0], color="#e9c46a")
    ax.set_xlabel("turns")
    ax.set_title("Most common handoff paths")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(figures: Analytics, out: Path) -> list[Path]:
    """Write `report.json`, `rates.png`, `volume.png` and `handoffs.png` into `out`
    (created when missing); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "rates.png", out / "volume.png", out / "handoffs.png"]
    written[0].write_text(json.dumps(figures.model_dump(), indent=2))
    _rates_chart(figures, written[1])
    _volume_chart(figures, written[2])
    _handoff_chart(figures, written[3])
    return written
