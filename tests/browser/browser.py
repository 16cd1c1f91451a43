"""Debian's headless Chromium driven by Selenium through Debian's chromedriver: nothing here
downloads a browser. Helpers to wait for what a person would see, to run axe-core in the
page, and to keep screenshots for the README."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE = REPO / ".dccf" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1280, 800)
PHONE = (390, 844)
# As root, headless, and quiet on the network: without the background-networking flags
# Chromium keeps calling Google's services, which a closed network answers with nothing.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class Problem(Exception):
    """The browser tier cannot run here; the message says what to install."""


def check_tools() -> None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            raise Problem(f"{path} is missing: install Debian's {package} (scripts/dev does)")
    if not AXE.exists():
        raise Problem(f"{AXE} is missing: scripts/dev up (or test) installs axe-core from npm")


@contextmanager
def chromium(ports: list[int], downloads: Path) -> Iterator[WebDriver]:
    """A fresh browser with a profile of its own; `ports` are let through Chromium's list of
    unsafe ports (10080, instance 2's master, is on it)."""
    profile = Path(tempfile.mkdtemp(prefix="dccf-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.add_argument("--explicitly-allowed-ports=" + ",".join(map(str, ports)))
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (StaleElementReferenceException, WebDriverException) as exc:
            last_error = exc  # the fragment was swapped while being read: read again
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last error: {last_error!r})")


def text_of(driver: WebDriver, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def mark_page(driver: WebDriver) -> None:
    """Leave a mark in the page's JavaScript state: a reload or navigation would erase it."""
    driver.execute_script("window.__dccfMark = 'still here';")


def not_reloaded(driver: WebDriver) -> bool:
    return driver.execute_script("return window.__dccfMark") == "still here"


def use_phone(driver: WebDriver, phone: bool) -> None:
    if phone:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
        )
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(driver: WebDriver, name: str, whole_page: bool = False) -> Path:
    """Into docs/screenshots (the README shows them); `whole_page` at desktop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if whole_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": DESKTOP[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
    driver.save_screenshot(str(path))
    if whole_page:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def axe_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations in the page as it is now."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " description: String(e), nodes: []}]));"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "description": v["description"],
            "nodes": [n.get("target") for n in v.get("nodes", [])][:5],
        }
        for v in result
        if v.get("impact") in {"serious", "critical"}
    ]
