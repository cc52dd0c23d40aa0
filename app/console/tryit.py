""" "Try it": chat as a demo customer through the same conversation operations the API uses.

The signed-in team member picks a customer of the CRM; messages go through `Desk.start` and
`Desk.send` with that customer as the caller, exactly as `POST /v1/conversations` and
`POST /v1/conversations/{id}/messages` run them for a customer token, so the answer, the
route and any escalation are the real ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.console.web import PREFIX, Member, check_csrf, desk_of, redirect, render
from app.server.problems import Problem
from graph.identity import Caller
from storage import crm_database

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _customers(request: Request) -> list[dict[str, Any]]:
    with crm_database.pooled_connection(desk_of(request).service.crm_path) as conn:
        rows = conn.execute("SELECT id, name, company, plan FROM customers ORDER BY id").fetchall()
    return [dict(row) for row in rows]


def route_line(turn: dict[str, Any]) -> str:
    """A sent turn in words: who answered, the route and what the thread waits for."""
    line = f"Answered by {turn['agent']}; route: {' → '.join(turn['route']) or '-'}."
    if turn.get("waiting_for"):
        line += f" The thread now waits for a person ({turn['waiting_for']})."
    return line


@router.get("/try", response_class=HTMLResponse)
def try_page(request: Request, member: Member, customer: str = "", thread: str = "") -> Response:
    """The chat form and, for a thread of the chosen customer, its transcript."""
    customers = _customers(request)
    known = {c["id"] for c in customers}
    customer = customer if customer in known else (customers[0]["id"] if customers else "")
    turns: list[dict[str, Any]] = []
    if thread and customer:
        try:
            turns = desk_of(request).conversation(Caller.customer(customer), thread)["turns"]
        except Problem:
            thread = ""
    return render(
        request,
        "try.html",
        member,
        customers=customers,
        customer=customer,
        thread=thread,
        turns=turns,
    )


@router.post("/try", response_class=HTMLResponse)
def try_send(
    request: Request,
    member: Member,
    csrf: Annotated[str, Form()] = "",
    customer: Annotated[str, Form(max_length=64)] = "",
    thread: Annotated[str, Form(max_length=64)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Send `text` as `customer` on `thread` (a new thread when empty or not theirs)."""
    check_csrf(request, member, csrf)
    desk = desk_of(request)
    if customer not in {c["id"] for c in _customers(request)}:
        return redirect(request, "/try", "Pick one of the demo customers.", "error")
    caller = Caller.customer(customer)
    if not thread or desk.owner(thread) != customer:
        thread = desk.start(caller)
    back = f"/try?customer={customer}&thread={thread}"
    try:
        turn = desk.send(caller, thread, text)
    except Problem as problem:
        return redirect(request, back, f"Not sent: {problem.detail}", "error")
    return redirect(request, back, route_line(turn))
