"""The inbox's live updates (SSE) and the analytics page."""

from __future__ import annotations

import asyncio
import base64
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette.sse import EventSourceResponse

from app.console.pages import current_inbox
from app.console.web import PREFIX, Member, desk_of, render, templates
from app.report import write_report
from storage import crm_database
from tools.analytics import compute_analytics, parse_when

router = APIRouter(prefix=PREFIX, include_in_schema=False)
POLL_SECONDS = 1.0
"""How often the inbox stream reads the inbox for changes (seconds)."""


async def _inbox_changes(request: Request) -> AsyncIterator[dict[str, str]]:
    last = None
    while not await request.is_disconnected():
        rows = await asyncio.to_thread(current_inbox, request)
        html = templates.get_template("inbox_rows.html").render(rows=rows, prefix=PREFIX)
        if html != last:
            last = html
            yield {"event": "inbox", "data": html.replace("\n", " ")}
        await asyncio.sleep(POLL_SECONDS)


@router.get("/inbox/events")
def inbox_events(request: Request, member: Member) -> EventSourceResponse:
    """Server-sent events: the inbox table's rows (HTML) each time they change."""
    return EventSourceResponse(_inbox_changes(request), ping=15)


def _charts(figures: object) -> list[tuple[str, str]]:
    """(title, data URI) of the report's PNG charts."""
    titles = {
        "rates.png": "Resolution and escalation rates",
        "volume.png": "Volume per intent per day",
        "handoffs.png": "Most common handoff paths",
    }
    with tempfile.TemporaryDirectory() as folder:
        written = write_report(figures, Path(folder))  # type: ignore[arg-type]
        return [
            (titles[p.name], "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode())
            for p in written
            if p.name in titles
        ]


@router.get("/analytics", response_class=HTMLResponse)
def analytics(request: Request, member: Member, since: str = "30d", until: str = "") -> Response:
    """Analytics over [since, until) (ISO times or ages such as `7d`), with charts."""
    now = datetime.now(UTC)
    try:
        start = parse_when(since, default=now - timedelta(days=30))
        end = parse_when(until, default=now + timedelta(seconds=1))
    except ValueError as exc:
        return render(
            request, "analytics.html", member, 422, error=str(exc), since=since, until=until
        )
    with crm_database.pooled_connection(desk_of(request).service.crm_path) as conn:
        figures = compute_analytics(conn, since=start, until=end)
    return render(
        request,
        "analytics.html",
        member,
        figures=figures,
        charts=_charts(figures),
        since=since,
        until=until,
    )
