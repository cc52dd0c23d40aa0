"""Service status of Lumen components, loaded from `tools/fixtures/service_status.json`.

File shape: `{"components": [{"name": "Event API", "status": "degraded", "message": "...",
"since": "2026-11-22T07:40:00Z"}, ...]}`; status is `operational`, `degraded` or `outage`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, Field

from storage.crm_types import CrmConnection

COMPONENT_STATUSES = ("operational", "degraded", "outage")
"""Valid component statuses, best first."""


class ComponentStatus(BaseModel):
    """Current status of one component."""

    name: str
    status: str = Field(description="operational, degraded or outage.")
    message: str
    since: str = Field(description="ISO timestamp of the last status change.")

    @property
    def healthy(self) -> bool:
        """True when the component is fully operational."""
        return self.status == "operational"


def load_status(conn: CrmConnection, path: str | Path) -> int:
    """Replace the `service_status` table with the components in JSON file `path`.

    A missing file empties the table. Returns the number of components loaded.

    Raises:
        ValueError: for malformed JSON, a component without a name, or an unknown status.
    """
    file = Path(path)
    components: list[dict] = []
    if file.is_file():
        try:
            components = list(json.loads(file.read_text(encoding="utf-8"))["components"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{file}: not a service status file ({exc})") from exc
    rows = []
    for item in components:
        status = str(item.get("status", "")).strip().lower()
        if not item.get("name") or status not in COMPONENT_STATUSES:
            raise ValueError(f"{file}: bad component entry {item!r}")
        rows.append((item["name"], status, item.get("message", ""), item.get("since", "")))
    conn.execute("DELETE FROM service_status")
    conn.executemany(
        "INSERT INTO service_status (component, status, message, updated_at) VALUES (?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def get_status(conn: CrmConnection) -> list[ComponentStatus]:
    """Return every component's status, worst first (outage, degraded, operational), by name."""
    rows = conn.execute("SELECT * FROM service_status").fetchall()
    statuses = [
        ComponentStatus(
            name=row["component"],
            status=row["status"],
            message=row["message"],
            since=row["updated_at"],
        )
        for row in rows
    ]
    rank = {status: index for index, status in enumerate(reversed(COMPONENT_STATUSES))}
    return sorted(statuses, key=lambda c: (rank.get(c.status, 0), c.name))


def set_status(conn: CrmConnection, name: str, status: str, message: str, since: str) -> None:
    """Insert or replace one component's status (for operators and tests).

    Raises:
        ValueError: for an unknown status.
    """
    if status not in COMPONENT_STATUSES:
        raise ValueError(f"Unknown status {status!r}; use one of {', '.join(COMPONENT_STATUSES)}")
    conn.execute(
        "INSERT INTO service_status (component, status, message, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(component) DO UPDATE SET status = excluded.status, "
        "message = excluded.message, updated_at = excluded.updated_at",
        (name, status, message, since),
    )


COMPONENT_SIGNS: dict[str, re.Pattern[str]] = {
    "Event API": re.compile(
        r"\b(5\d\d|5xx|server errors?|internal server|bad gateway|service unavailable|"
        r"event api|ingest\w*|tracking (?:calls?|requests?)|timeouts?|timing out|"
        r"events? (?:are |is )?(?:missing|not (?:showing|arriving|appearing|coming))|"
        r"events? (?:still )?(?:don'?t|do not|aren'?t|are not) (?:show|arriv|appear|com)\w*)\b"
    ),
    "Dashboards": re.compile(
        r"\b(?:dashboards?|charts?|funnels?|cohorts?)\b.*\b(?:load\w*|slow|blank|broken|"
        r"errors?|empty)\b"
    ),
    "Data export": re.compile(r"\b(exports?|exporting|warehouse|snowflake|bigquery|parquet)\b"),
    "Webhooks": re.compile(r"\bweb ?hooks?\b"),
    "Authentication/SSO": re.compile(
        r"\b(sso|saml|okta|single sign[- ]on|two[- ]factor|2fa|can(?:no|')t (?:log|sign) ?in)\b"
    ),
    "Billing portal": re.compile(r"\b(billing portal|billing page|payment methods? page)\b"),
}
"""Words in a customer's problem that point at each component (component name -> pattern)."""

_ANY_COMPONENT = re.compile(r"\b(outage|is (?:lumen|it|everything) down|status page|incident)\b")


def components_affecting(problem: str, statuses: list[ComponentStatus]) -> list[ComponentStatus]:
    """The components that are not operational and that the customer's problem points at.

    A component is relevant when its `COMPONENT_SIGNS` pattern matches `problem` (lower
    case), or when the problem asks about an outage in general ("is Lumen down?"). So an
    Event API incident is mentioned for 5xx errors but not for a password reset or a 429
    (rate limits are the customer's quota, not an incident). An empty problem means every
    unhealthy component.

    Args:
        problem: the customer's description of the problem.
        statuses: components as returned by `get_status`.

    Returns:
        The matching unhealthy components, in the order given.
    """
    unhealthy = [c for c in statuses if not c.healthy]
    text = " ".join(problem.lower().split())
    if not text or _ANY_COMPONENT.search(text):
        return unhealthy
    return [c for c in unhealthy if (sign := COMPONENT_SIGNS.get(c.name)) and sign.search(text)]
