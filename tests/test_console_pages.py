"""Console pages in process (FastAPI TestClient, real SQLite files and a real PostgreSQL
database): sign-in, cookies, CSRF, the confirmation step and refusals shown as messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.server.app import create_app
from app.server.settings import ServerSettings
from graph.identity import Caller
from storage import crm_database
from storage.urls import DATABASE_URL_ENV, crm_location
from tools.api_keys import create_key, revoke_key

pytestmark = [pytest.mark.integration, pytest.mark.both_databases]


class Console:
    """A test client of an in-process app and its keys by role."""

    def __init__(self, client: TestClient, data_dir: Path, keys: dict[str, str]) -> None:
        self.client, self.data_dir, self.keys = client, data_dir, keys

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on page `path`."""
        page = self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found[1]

    def sign_in(self, role: str = "agent") -> None:
        token = self.csrf("/console/sign-in")
        answer = self.client.post(
            "/console/sign-in", data={"key": self.keys[role], "csrf": token}, follow_redirects=False
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/console/inbox"


@pytest.fixture
def console(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv(DATABASE_URL_ENV, database_url)  # "" keeps the SQLite files
    conn = crm_database.connect(crm_location(data_dir))
    try:
        keys = {r: create_key(conn, role=r, name=f"{r} Dana").key for r in ("backend", "agent")}
    finally:
        conn.close()
    settings = ServerSettings(data_dir=data_dir, token_secret="x" * 32, run_webhook_worker=False)
    with TestClient(create_app(settings)) as client:
        yield Console(client, data_dir, keys)


def test_pages_need_a_sign_in_and_the_cookie_is_strict(console: Console) -> None:
    answer = console.client.get("/console/inbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
    token = console.csrf("/console/sign-in")
    form = {"key": console.keys["agent"], "csrf": token}
    answer = console.client.post("/console/sign-in", data=form, follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "console_signin=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "Nothing is waiting for a human." in console.client.get("/console/inbox").text


def test_wrong_keys_and_missing_csrf_are_refused(console: Console) -> None:
    for key in ("ssk_unknown", console.keys["backend"]):
        token = console.csrf("/console/sign-in")
        answer = console.client.post("/console/sign-in", data={"key": key, "csrf": token})
        assert answer.status_code == 401 and "not an agent or admin key" in answer.text
    no_csrf = console.client.post("/console/sign-in", data={"key": console.keys["agent"]})
    assert no_csrf.status_code == 403 and "Nothing was changed" in no_csrf.text
    assert "console_signin" not in no_csrf.headers.get("set-cookie", "")


def test_tampered_cookie_and_revoked_key_end_the_sign_in(console: Console) -> None:
    console.sign_in()
    value = console.client.cookies["console_signin"]
    console.client.cookies.clear()
    console.client.cookies.set("console_signin", value[:-2] + "xx")
    assert console.client.get("/console/inbox", follow_redirects=False).status_code == 303
    console.client.cookies.clear()
    console.sign_in()
    assert console.client.get("/console/inbox").status_code == 200
    conn = crm_database.connect(crm_location(console.data_dir))
    try:
        agent_id = next(
            row[0] for row in conn.execute("SELECT id FROM api_keys WHERE role = 'agent'")
        )
        revoke_key(conn, agent_id)
    finally:
        conn.close()
    assert console.client.get("/console/inbox", follow_redirects=False).status_code == 303


def _answered_thread(console: Console) -> str:
    desk = console.client.app.state.desk  # type: ignore[attr-defined]
    caller = Caller.customer("C001")
    thread = desk.start(caller)
    turn = desk.send(caller, thread, "How do I export my data to CSV?")
    assert turn["waiting_for"] is None
    return str(thread)


def test_actions_confirm_first_and_refusals_come_back_as_messages(console: Console) -> None:
    thread = _answered_thread(console)
    console.sign_in()
    path = f"/console/threads/{thread}"
    token = console.csrf(path)
    page = console.client.get(path).text
    assert "How do I export my data to CSV?" in page and "not waiting for a person" in page

    first = console.client.post(f"{path}/reply", data={"csrf": token, "text": "Hello"})
    assert first.status_code == 200 and 'name="confirmed" value="yes"' in first.text
    refused = console.client.post(
        f"{path}/reply", data={"csrf": token, "text": "Hello", "confirmed": "yes"}
    )
    assert refused.status_code == 200 and 'id="flash"' in refused.text
    assert "Refused:" in refused.text and "not waiting" in refused.text
    empty = console.client.post(f"{path}/deny", data={"csrf": token, "confirmed": "yes"})
    assert "Write a reason for the denial first." in empty.text
    forged = console.client.post(
        f"{path}/approve", data={"csrf": "0" * 64, "confirmed": "yes"}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_unknown_thread_bad_period_and_sign_out(console: Console) -> None:
    console.sign_in()
    assert console.client.get("/console/threads/thr_none").status_code == 404
    bad = console.client.get("/console/analytics", params={"since": "yesterday-ish"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    good = console.client.get("/console/analytics", params={"since": "7d"})
    assert good.text.count('src="data:image/png;base64,') == 3
    token = console.csrf("/console/inbox")
    out = console.client.post("/console/sign-out", data={"csrf": token})
    assert "You are signed out." in out.text
    assert console.client.get("/console/inbox", follow_redirects=False).status_code == 303


def test_try_it_chats_as_the_chosen_customer(console: Console) -> None:
    console.sign_in()
    token = console.csrf("/console/try?customer=C004")
    form = {"csrf": token, "customer": "C004", "text": "How do I export my data to CSV?"}
    page = console.client.post("/console/try", data=form)
    assert page.status_code == 200 and "Answered by " in page.text and "route: triage" in page.text
    thread = re.search(r'name="thread" value="(thr_[0-9a-f]+)"', page.text)
    assert thread and "How do I export my data to CSV?" in page.text
    desk = console.client.app.state.desk  # type: ignore[attr-defined]
    assert desk.owner(thread[1]) == "C004"
    unknown = console.client.post("/console/try", data={**form, "customer": "C999"})
    assert "Pick one of the demo customers." in unknown.text
    empty = console.client.post("/console/try", data={**form, "text": " ", "thread": thread[1]})
    assert "Not sent:" in empty.text
