"""A headless Chromium (the Debian packages ``chromium`` and ``chromium-driver``) driven by
Selenium, for the playground's browser tests, and helpers to read the page.

Selenium is given the system's chromedriver: it never downloads a driver or a browser. A
missing browser, driver or Selenium skips the tests, and fails them under ``CI=true``
(as ``redis-server`` and PostgreSQL do): run ``make services`` and ``make setup``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30  # seconds: a ceiling for a DOM condition on a busy machine, never a pause


def _missing(what: str) -> NoReturn:
    message = f"{what} is not installed; run `make services` (Debian packages) and `make setup`"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI must provide it; the browser tests cannot be skipped)")
    pytest.skip(message)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium (the dev extra)")
    binary = _chromium()
    if binary is None:
        _missing("chromium")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        _missing("chromedriver (the chromium-driver package)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root (CI containers)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,860",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def script_errors(driver: WebDriver) -> list[str]:
    """The page's JavaScript errors since the last call (a refused request's own console
    line, which the page then explains, is not one)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition, message=f"waiting for {what}")


def by_css(driver: WebDriver | WebElement, selector: str) -> list[WebElement]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver: WebDriver | WebElement, selector: str) -> WebElement:
    found = by_css(driver, selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r}"
    return found[0]


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(f"{url}/playground")
    wait_for(driver, lambda d: one(d, "#app").is_displayed(), "the playground to load")


def idle(driver: WebDriver) -> bool:
    return bool(by_css(driver, "body[data-busy='false']"))


def send(driver: WebDriver, message: str) -> None:
    """Send ``message`` and wait until its answer has ended (the page is idle again)."""
    start_message(driver, message)
    wait_for(driver, idle, f"the answer to {message!r}")


def start_message(driver: WebDriver, message: str) -> None:
    wait_for(driver, idle, "the page to be idle")
    users = len(by_css(driver, "#transcript .bubble.user"))
    one(driver, "#message").send_keys(message)
    one(driver, "#send").click()
    wait_for(
        driver, lambda d: len(by_css(d, "#transcript .bubble.user")) == users + 1, "the message"
    )


def bubbles(driver: WebDriver) -> list[tuple[str, str]]:
    """(agent, text) of every agent bubble, in order."""
    return [
        (one(b, ".who").text, one(b, ".text").text)
        for b in by_css(driver, "#transcript .bubble.agent")
    ]


def graph_classes(driver: WebDriver, agent: str) -> set[str]:
    node = one(driver, f"#graph g.node[data-agent='{agent}']")
    return set((node.get_attribute("class") or "").split())


def artifacts_dir() -> Path:
    """Where screenshots go: ``WEBAGENTS_TEST_ARTIFACTS``, else ``test-artifacts/`` (ignored
    by git) in the checkout."""
    folder = Path(os.environ.get("WEBAGENTS_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
