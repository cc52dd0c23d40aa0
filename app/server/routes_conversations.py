"""Customer conversations: create, send a message (JSON or SSE), read, list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from app.server.auth import CustomerCaller, ReaderCaller
from app.server.desk import Desk
from app.server.sse import turn_events

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


class MessageIn(BaseModel):
    """A customer message; its length limit is checked with the same rule as the CLI."""

    text: str = Field(description="The customer's message (1 to 8,000 characters).")


class Created(BaseModel):
    """A new conversation."""

    thread_id: str


def desk_of(request: Request) -> Desk:
    """The process's `Desk` (created by the app's lifespan)."""
    return request.app.state.desk  # type: ignore[no-any-return]


@router.post("", status_code=201, response_model=Created)
def create_conversation(request: Request, caller: CustomerCaller) -> Created:
    """Start a conversation for the customer of the token."""
    return Created(thread_id=desk_of(request).start(caller))


@router.get("")
def list_conversations(request: Request, caller: ReaderCaller) -> list[dict[str, Any]]:
    """The customer's own threads (all threads for agent and admin keys)."""
    return desk_of(request).conversations(caller)


@router.get("/{thread_id}")
def get_conversation(request: Request, thread_id: str, caller: ReaderCaller) -> dict[str, Any]:
    """Turns with agents and handoffs, and what the thread waits for (`waiting_for`)."""
    return desk_of(request).conversation(caller, thread_id)


@router.post(
    "/{thread_id}/messages",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The turn (JSON or SSE)."},
        409: {"description": "A turn is still running (Retry-After) or a human is awaited."},
    },
)
async def send_message(
    request: Request,
    thread_id: str,
    body: MessageIn,
    caller: CustomerCaller,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Your ID for this message (1-128 characters, e.g. a UUID). Sending "
            "it again with the same key, to any server, returns the first result with "
            "`replayed: true` instead of acting twice."
        ),
    ] = None,
) -> Response:
    """Send a message and get the turn; `Accept: text/event-stream` streams it as SSE.

    A message while this thread's previous turn is still running is refused with 409 and
    `Retry-After` (send it again after that many seconds); a message on a thread waiting for
    a human is refused with 409 and `waiting_for`.
    """
    desk = desk_of(request)
    if "text/event-stream" in request.headers.get("accept", ""):
        await run_in_threadpool(desk.precheck, caller, thread_id, body.text)
        events = turn_events(desk, caller, thread_id, body.text, idempotency_key)
        return EventSourceResponse(events, ping=15)
    turn = await run_in_threadpool(desk.send, caller, thread_id, body.text, idempotency_key)
    return JSONResponse(turn)
