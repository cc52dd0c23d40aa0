"""Take the README's console screenshot (docs/console.png) with Debian's headless Chromium.

Starts `support-swarm serve` on a free port with a fresh data folder, sends an escalation
and a $750 refund request as two customers, signs in with an agent key and captures the
inbox at 1280 px wide.

    .venv/bin/python scripts/console_screenshot.py [--out docs/console.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app.bench_http import base_url, running_server
from storage import crm_database
from tools.api_keys import create_key

MESSAGES = (
    ("C001", "Let me speak to a human, this is unacceptable"),
    ("C004", "Refund my $750 charge"),
)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _keys(data_dir: Path) -> dict[str, str]:
    conn = crm_database.connect(data_dir / "crm.sqlite")
    try:
        names = {"backend": "web app", "agent": "Priya"}
        return {role: create_key(conn, role=role, name=name).key for role, name in names.items()}
    finally:
        conn.close()


def _send(url: str, backend_key: str) -> None:
    for customer_id, text in MESSAGES:
        with httpx.Client(base_url=url, timeout=60) as client:
            token = client.post(
                "/v1/customer-tokens",
                json={"customer_id": customer_id},
                headers={"authorization": f"Bearer {backend_key}"},
            ).json()["token"]
            client.headers["authorization"] = f"Bearer {token}"
            thread = client.post("/v1/conversations").json()["thread_id"]
            client.post(f"/v1/conversations/{thread}/messages", json={"text": text})


def _capture(url: str, agent_key: str, profile: Path, out: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,640"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url + "/console/sign-in")
        driver.find_element(By.ID, "key").send_keys(agent_key)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-thread]"))
        )
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main() -> None:
    """Write the screenshot to `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/console.png"))
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir()
        keys = _keys(data_dir)
        with running_server(data_dir) as process:
            url = base_url(process)
            _send(url, keys["backend"])
            _capture(url, keys["agent"], Path(folder) / "profile", out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
