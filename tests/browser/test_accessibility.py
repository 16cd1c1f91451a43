"""axe-core on every page, at desktop and phone width: no serious or critical violation."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from .browser import axe_violations, screenshot, use_phone, wait_until
from .jobs import DOCKERFILE_QUICK, submit, wait_terminal

PAGES = {
    "overview": ("/", ".overview-page"),
    "jobs": ("/ui/jobs", ".jobs-page"),
    "submit": ("/ui/submit", "#submit-form"),
    "workers": ("/ui/workers", ".workers-page"),
}


@pytest.fixture(scope="module")
def finished_job(api: httpx.Client) -> int:
    job = submit(api, DOCKERFILE_QUICK, "for the accessibility pass")
    wait_terminal(api, job["id"])
    return int(job["id"])


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("page", [*PAGES, "job"])
def test_no_serious_accessibility_violation(
    driver: WebDriver, url: str, finished_job: int, page: str, phone: bool
) -> None:
    path, ready = PAGES.get(page, (f"/ui/jobs/{finished_job}", "#job-detail .job"))
    use_phone(driver, phone)
    driver.get(url + path)
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ready), 30, f"the {page} page")
    if page == "overview" and not phone:
        screenshot(driver, "overview")
    if page == "job":
        wait_until(
            lambda: "complete logs" in driver.find_element(By.ID, "log-state").text, 30, "logs"
        )
    assert axe_violations(driver) == []
