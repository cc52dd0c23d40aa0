"""Console pages: sign-in and sign-out, the inbox, a conversation and its human actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.console import crm_reads
from app.console.signin import (
    CONSOLE_ROLES,
    PRESIGN_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_MAX_AGE_SECONDS,
    SignedIn,
    encode_signin,
    new_nonce,
)
from app.console.views import handoff_rows, inbox_rows, transcript, triage_view
from app.console.web import PREFIX, Member, check_csrf, desk_of, redirect, render, secret_of
from app.server.problems import Problem
from graph.identity import Caller
from storage import crm_database
from storage.urls import crm_location
from tools.api_keys import verify_key

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Action = Literal["reply", "approve", "deny"]
ACTION_LABELS = {"reply": "Send reply", "approve": "Approve refund", "deny": "Deny refund"}


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
    )


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """The console's start page is the inbox."""
    return redirect(request, "/inbox")


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, error: str = "") -> Response:
    """The sign-in form; sets the pre-sign-in cookie its CSRF token is bound to."""
    nonce = new_nonce()
    response = render(request, "signin.html", None, nonce=nonce, error=error)
    _cookie(response, request, PRESIGN_COOKIE, nonce, 900)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request, key: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    """Exchange an agent or admin API key for the sign-in cookie (401 page otherwise)."""
    check_csrf(request, None, csrf)
    with crm_database.pooled_connection(crm_location(request.app.state.settings.data_dir)) as conn:
        found = verify_key(conn, key.strip()) if key.strip() else None
    if found is None or found.role not in CONSOLE_ROLES:
        nonce = new_nonce()
        error = "That key is unknown, revoked, or not an agent or admin key."
        refused = render(request, "signin.html", None, 401, nonce=nonce, error=error)
        _cookie(refused, request, PRESIGN_COOKIE, nonce, 900)
        return refused
    member = SignedIn(key_id=found.id, name=found.name, role=found.role, nonce=new_nonce())
    response = redirect(request, "/inbox")
    value = encode_signin(secret_of(request), member)
    _cookie(response, request, SIGNIN_COOKIE, value, SIGNIN_MAX_AGE_SECONDS)
    response.delete_cookie(PRESIGN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(request: Request, member: Member, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the sign-in cookie."""
    check_csrf(request, member, csrf)
    response = redirect(request, "/sign-in", "You are signed out.")
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


def current_inbox(request: Request) -> list[Any]:
    """The inbox as table rows (`views.InboxRow`), oldest first."""
    paused = desk_of(request).inbox()
    customers, tickets = crm_reads.inbox_context(desk_of(request).service.crm_path, paused)
    return inbox_rows(paused, customers, tickets)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, member: Member) -> Response:
    """Threads waiting for a human; the page updates itself from `/console/inbox/events`."""
    return render(request, "inbox.html", member, rows=current_inbox(request))


@router.get("/threads/{thread_id}", response_class=HTMLResponse)
def conversation(request: Request, thread_id: str, member: Member) -> Response:
    """A thread: transcript, triage, handoffs, tool calls, CRM records and the actions."""
    desk = desk_of(request)
    try:
        owner = desk.check_read(Caller.admin(member.name), thread_id)
        state = desk.service.state(thread_id, caller=Caller.admin(member.name))
    except Problem:
        return render(request, "missing.html", member, 404, thread_id=thread_id)
    except LookupError:
        state = {}
    waiting = desk.service.pending(thread_id) if state else None
    records = crm_reads.thread_records(desk.service.crm_path, thread_id, owner)
    return render(
        request,
        "conversation.html",
        member,
        thread_id=thread_id,
        customer=records["customer"],
        entries=transcript(state.get("messages") or []),
        triage=triage_view(state.get("triage")),
        handoffs=handoff_rows(state.get("handoffs") or []),
        waiting=waiting,
        records=records,
    )


def _run_action(request: Request, thread_id: str, action: Action, text: str, name: str) -> Any:
    desk = desk_of(request)
    service = desk.service
    if action == "reply":
        return desk.human_action(thread_id, lambda: service.reply(thread_id, text, agent=name))
    if action == "approve":
        return desk.human_action(
            thread_id, lambda: service.approve(thread_id, decided_by=name, note=text)
        )
    return desk.human_action(
        thread_id, lambda: service.deny(thread_id, reason=text, decided_by=name)
    )


@router.post("/threads/{thread_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request,
    thread_id: str,
    action: Action,
    member: Member,
    csrf: Annotated[str, Form()] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Reply, approve or deny: a confirmation page first, then the action; a refusal
    (not waiting, already decided, bad text) comes back as an error message."""
    check_csrf(request, member, csrf)
    if action in ("reply", "deny") and not text.strip():
        what = "reply" if action == "reply" else "reason for the denial"
        return redirect(request, f"/threads/{thread_id}", f"Write a {what} first.", "error")
    if confirmed != "yes":
        label = ACTION_LABELS[action]
        return render(
            request,
            "confirm.html",
            member,
            thread_id=thread_id,
            action=action,
            label=label,
            text=text,
        )
    try:
        _run_action(request, thread_id, action, text.strip(), member.name)
    except Problem as problem:
        return redirect(request, f"/threads/{thread_id}", f"Refused: {problem.detail}", "error")
    done = {"reply": "Reply sent.", "approve": "Refund approved.", "deny": "Refund denied."}
    return redirect(request, f"/threads/{thread_id}", done[action])
