"""The support console in a real headless Chromium against a real server process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from storage import crm_database
from tests.browser.conftest import WAIT_SECONDS
from tests.http_server import Server, serve

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("console") / "data") as running:
        yield running


def _wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def _sign_in(driver: Any, server: Server) -> None:
    driver.get(server.base_url + "/console/inbox")
    _wait(driver).until(ec.presence_of_element_located((By.ID, "key")))
    driver.find_element(By.ID, "key").send_keys(server.keys["agent"])
    driver.find_element(By.ID, "sign-in").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "inbox-rows")))


def _customer_message(server: Server, customer_id: str, text: str) -> str:
    with server.client(server.token(customer_id)) as customer:
        thread = customer.post("/v1/conversations").json()["thread_id"]
        turn = customer.post(f"/v1/conversations/{thread}/messages", json={"text": text})
    assert turn.status_code == 200, turn.text
    assert turn.json()["waiting_for"] is not None, turn.json()
    return str(thread)


def _confirm(driver: Any, button_id: str) -> str:
    """Press an action button, then the confirmation page's button; returns the flash."""
    driver.find_element(By.ID, button_id).click()
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "confirm-button"))).click()
    return str(_wait(driver).until(ec.visibility_of_element_located((By.ID, "flash"))).text)


def test_escalation_appears_live_and_the_reply_reaches_the_customer(
    driver: Any, server: Server
) -> None:
    _sign_in(driver, server)
    driver.execute_script("window.notReloaded = true;")
    thread = _customer_message(server, "C001", "Let me speak to a human, this is unacceptable")

    row = (By.CSS_SELECTOR, f'tr[data-thread="{thread}"]')
    _wait(driver).until(ec.presence_of_element_located(row))
    assert driver.execute_script("return window.notReloaded === true;")
    assert "Escalation" in driver.find_element(*row).text

    driver.find_element(*row).find_element(By.TAG_NAME, "a").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "reply-text")))
    driver.find_element(By.ID, "reply-text").send_keys("I have refunded the duplicate seat.")
    assert _confirm(driver, "reply-button") == "Reply sent."

    with server.client(server.token("C001")) as customer:
        turns = customer.get(f"/v1/conversations/{thread}").json()["turns"]
    replies = [text for turn in turns for _, text in turn["replies"]]
    assert "I have refunded the duplicate seat." in replies
    human = driver.find_element(By.CSS_SELECTOR, "#transcript .msg-human").text
    assert "I have refunded the duplicate seat." in human
    assert "not waiting for a person" in driver.page_source


def _executed_refunds(driver: Any, server: Server) -> tuple[int, float]:
    driver.get(server.base_url + "/console/analytics?since=1d")
    text = _wait(driver).until(ec.presence_of_element_located((By.ID, "refunds-executed"))).text
    found = re.fullmatch(r"(\d+) \(\$([\d,.]+)\)", text)
    assert found, text
    return int(found[1]), float(found[2].replace(",", ""))


def _refund_rows(data_dir: Path) -> list[tuple[str, float, str]]:
    conn = crm_database.connect(data_dir / "crm.sqlite")
    try:
        rows = conn.execute(
            "SELECT invoice_id, amount, status FROM refunds WHERE customer_id = 'C004' "
            "AND amount = 750"
        ).fetchall()
    finally:
        conn.close()
    return [tuple(row) for row in rows]


def test_approving_a_750_refund_executes_it_once(driver: Any, server: Server) -> None:
    thread = _customer_message(server, "C004", "Refund my $750 charge")
    assert _refund_rows(server.data_dir) == []
    _sign_in(driver, server)
    count, dollars = _executed_refunds(driver, server)

    driver.get(f"{server.base_url}/console/threads/{thread}")
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "approve-button")))
    assert _confirm(driver, "approve-button") == "Refund approved."

    rows = _refund_rows(server.data_dir)
    assert len(rows) == 1 and rows[0][2] == "approved", rows
    assert _executed_refunds(driver, server) == (count + 1, dollars + 750)
