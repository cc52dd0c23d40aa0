"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium.

Without the binaries the browser tests skip, unless `CI` is set: then they fail, so a CI
run can never pass without having run them. A failing test leaves `failure.png` (and the
page's HTML) in its tmp folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WAIT_SECONDS = 30.0
"""Longest explicit wait for the page (seconds); a turn of the embedded model is slower on a
busy 2-core machine than on a laptop."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed (scripts/install_system_packages.sh)"


def new_driver(profile: Path, width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
    """A headless Chromium WebDriver with a fresh profile folder `profile`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A fresh headless browser; skips (fails under `CI`) when the binaries are absent."""
    reason = browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests must run in CI: {reason}")
        pytest.skip(reason)
    browser = new_driver(tmp_path / "chromium-profile")
    try:
        yield browser
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            browser.save_screenshot(str(tmp_path / "failure.png"))
            (tmp_path / "failure.html").write_text(browser.page_source)
            print(f"Screenshot of the failure: {tmp_path / 'failure.png'}")
        browser.quit()
