"""Service status of Lumen components, loaded from `tools/fixtures/service_status.json`.

File shape: `{"components": [{"name": "Event API", "status": "degraded", "message": "...",
"since": "2026-11-22T07:40:00Z"}, ...]}`; status is `operational`, `degraded` or `outage`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pydantic import BaseModel, Field

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


def load_status(conn: sqlite3.Connection, path: str | Path) -> int:
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


def get_status(conn: sqlite3.Connection) -> list[ComponentStatus]:
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


def set_status(conn: sqlite3.Connection, name: str, status: str, message: str, since: str) -> None:
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
