"""The support team: inbox and human actions (agent key), time travel (admin key),
analytics (agent key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.server.auth import AdminKey, AgentKey, reader_caller
from app.server.problems import Problem
from app.server.routes_conversations import desk_of
from storage import crm_database
from tools.analytics import compute_analytics, parse_when

router = APIRouter(prefix="/v1", tags=["support team"])


class ReplyIn(BaseModel):
    """A support agent's answer to an escalated thread."""

    text: str
    agent: str = Field(default="support agent", max_length=100)


class ApproveIn(BaseModel):
    """A manager's approval of the refund a thread waits on."""

    decided_by: str = Field(default="billing manager", max_length=100)
    note: str = Field(default="", max_length=2000)


class DenyIn(BaseModel):
    """A manager's denial; the customer is told `reason`."""

    reason: str = Field(max_length=2000)
    decided_by: str = Field(default="billing manager", max_length=100)


class ReplayIn(BaseModel):
    """Re-run a thread from a checkpoint."""

    checkpoint_id: str


class ForkIn(BaseModel):
    """Start a new thread from a checkpoint with an edited message."""

    checkpoint_id: str
    message: str


@router.get("/inbox")
def inbox(request: Request, key: AgentKey) -> list[dict[str, Any]]:
    """Threads paused for a human (escalations, refund approvals), oldest first."""
    return desk_of(request).inbox()


@router.post("/conversations/{thread_id}/reply")
def reply(request: Request, thread_id: str, body: ReplyIn, key: AgentKey) -> dict[str, Any]:
    """Answer an escalated thread; its ticket is resolved. 409 when it is not waiting."""
    desk = desk_of(request)
    return desk.human_action(
        thread_id, lambda: desk.service.reply(thread_id, body.text, agent=body.agent)
    )


@router.post("/conversations/{thread_id}/approve")
def approve(request: Request, thread_id: str, body: ApproveIn, key: AgentKey) -> dict[str, Any]:
    """Approve the refund the thread waits on (executed once). 409 when not waiting."""
    desk = desk_of(request)
    return desk.human_action(
        thread_id,
        lambda: desk.service.approve(thread_id, decided_by=body.decided_by, note=body.note),
    )


@router.post("/conversations/{thread_id}/deny")
def deny(request: Request, thread_id: str, body: DenyIn, key: AgentKey) -> dict[str, Any]:
    """Deny the refund the thread waits on, with a reason. 409 when not waiting."""
    desk = desk_of(request)
    return desk.human_action(
        thread_id,
        lambda: desk.service.deny(thread_id, reason=body.reason, decided_by=body.decided_by),
    )


@router.get("/conversations/{thread_id}/checkpoints")
def checkpoints(request: Request, thread_id: str, key: AdminKey) -> list[dict[str, Any]]:
    """The thread's checkpoints, oldest first (admin)."""
    return desk_of(request).checkpoints(reader_caller(key), thread_id)


@router.post("/conversations/{thread_id}/replay")
def replay(request: Request, thread_id: str, body: ReplayIn, key: AdminKey) -> dict[str, Any]:
    """Re-run the thread from a checkpoint (admin)."""
    desk = desk_of(request)
    caller = reader_caller(key)
    return desk.human_action(
        thread_id, lambda: desk.service.replay(thread_id, body.checkpoint_id, caller=caller)
    )


@router.post("/conversations/{thread_id}/fork", status_code=201)
def fork(request: Request, thread_id: str, body: ForkIn, key: AdminKey) -> dict[str, Any]:
    """A new thread from a checkpoint, with `message` as its next turn (admin)."""
    desk = desk_of(request)
    caller = reader_caller(key)
    return desk.human_action(
        thread_id,
        lambda: desk.service.fork(thread_id, body.checkpoint_id, body.message, caller=caller),
    )


@router.get("/analytics")
def analytics(
    request: Request, key: AgentKey, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    """Containment, escalation, handoffs, first-contact resolution, volume, refunds and
    model calls over [since, until): ISO times or ages such as `30d` (default: 30 days)."""
    now = datetime.now(UTC)
    try:
        start = parse_when(since, default=now - timedelta(days=30))
        end = parse_when(until, default=now + timedelta(seconds=1))
        with crm_database.pooled_connection(desk_of(request).service.crm_path) as conn:
            return compute_analytics(conn, since=start, until=end).model_dump()
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
