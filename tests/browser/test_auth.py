"""With API tokens the page asks for one, keeps it for the tab, and shows nothing of other
principals. A second master with tokens runs beside the stack's (same Postgres and Kafka)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from .browser import screenshot, text_of, wait_until
from .jobs import DOCKERFILE_QUICK, submit, wait_terminal
from .processes import token_master

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}


@pytest.fixture(scope="module")
def secured(logs: Path) -> Iterator[str]:
    with token_master(logs, TOKENS) as url:
        yield url


@pytest.fixture
def extra_ports(secured: str) -> list[int]:
    return [urlsplit(secured).port or 80]


def _bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def _sign_in(driver: WebDriver, token: str) -> None:
    dialog = wait_until(
        lambda: driver.find_element(By.ID, "token-dialog").is_displayed(), 30, "the token prompt"
    )
    assert dialog
    field = driver.find_element(By.ID, "token-input")
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type='submit']").click()


def test_another_principals_job_is_not_listed(driver: WebDriver, secured: str) -> None:
    with httpx.Client(base_url=secured, timeout=90) as api:
        mine = submit(api, DOCKERFILE_QUICK, "alice's job", **_bearer("alice"))
        theirs = submit(api, DOCKERFILE_QUICK, "bob's job", **_bearer("bob"))
        wait_terminal(api, mine["id"], **_bearer("alice"))
        wait_terminal(api, theirs["id"], **_bearer("bob"))

    driver.get(f"{secured}/ui/jobs")
    screenshot(driver, "token")
    _sign_in(driver, "not-a-token")
    wait_until(
        lambda: "not accepted" in text_of(driver, "#token-error"), 30, "a wrong token refused"
    )
    driver.find_element(By.ID, "token-input").clear()
    _sign_in(driver, TOKENS["alice"])
    wait_until(
        lambda: driver.find_elements(By.CSS_SELECTOR, f"a[href='/ui/jobs/{mine['id']}']"),
        30,
        "alice's job listed",
    )
    listed = driver.find_element(By.CSS_SELECTOR, ".jobs-page").text
    assert "bob's job" not in listed
    assert not driver.find_elements(By.CSS_SELECTOR, f"a[href='/ui/jobs/{theirs['id']}']")
    # The token stays for the tab: other pages need no new sign-in.
    driver.get(f"{secured}/ui/jobs/{theirs['id']}")
    wait_until(
        lambda: f"no job with id {theirs['id']}" in text_of(driver, "#job-detail"),
        30,
        "bob's job refused to alice",
    )
    assert not driver.find_element(By.ID, "token-dialog").is_displayed()
    driver.get(f"{secured}/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".overview-page"), 30, "overview")
    assert f"job {theirs['id']}" not in driver.find_element(By.ID, "main").text
