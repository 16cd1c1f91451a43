"""A person's way through the dashboard: submit through the form, watch the job end without
reloading, read its stdout, download an output, cancel a running job."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from .browser import mark_page, not_reloaded, screenshot, text_of, use_phone, wait_until
from .jobs import DOCKERFILE_QUICK, DOCKERFILE_SLEEP, submit, wait_terminal

JOB_SECONDS = 240
NUMBERS = "".join(f"{n}\n" for n in range(1, 5001)).encode()


def _context(folder: Path, marker: str) -> Path:
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        'FROM debian:bookworm-slim\nCOPY run.sh /run.sh\nCOPY data/ /data/\nCMD ["sh", "/run.sh"]\n'
    )
    (folder / "run.sh").write_text(
        f"echo {marker}\ncat /data/greeting.txt\nsleep 2\necho second line\n"
        "seq 1 5000 > /output/numbers.txt\nmkdir -p /output/sub\necho deep > /output/sub/deep.txt\n"
    )
    (folder / "data").mkdir()
    (folder / "data" / "greeting.txt").write_text("greetings from a nested file\n")
    return folder


def _status(driver: WebDriver) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, "#job-detail .job")
    return found[0].get_attribute("data-status") or "" if found else ""


def test_submit_a_folder_through_the_form_and_follow_the_job_live(
    driver: WebDriver, url: str, downloads: Path, tmp_path: Path
) -> None:
    marker = f"hello-{uuid.uuid4().hex[:8]}"
    folder = _context(tmp_path / "context", marker)
    driver.get(f"{url}/ui/submit")
    driver.find_element(By.ID, "pick-folder").send_keys(str(folder))
    wait_until(lambda: "3 file(s)" in text_of(driver, "#picked"), 10, "the picked files listed")
    driver.find_element(By.ID, "f-name").send_keys("browser form job")
    driver.find_element(By.ID, "f-memory").send_keys("256")
    screenshot(driver, "submit")
    driver.find_element(By.ID, "submit-button").click()

    wait_until(lambda: re.search(r"/ui/jobs/\d+$", driver.current_url), 30, "the job's page")
    mark_page(driver)
    wait_until(lambda: _status(driver) == "succeeded", JOB_SECONDS, "the job shown succeeded")
    assert not_reloaded(driver), "the page reloaded to show the new status"
    wait_until(lambda: "second line" in text_of(driver, "#log-stdout"), 30, "stdout in full")
    stdout = text_of(driver, "#log-stdout")
    assert stdout.splitlines() == [marker, "greetings from a nested file", "second line"]
    assert "complete logs" in text_of(driver, "#log-state")
    assert "sub/deep.txt" in text_of(driver, "table.outputs")
    screenshot(driver, "job", whole_page=True)
    use_phone(driver, True)
    screenshot(driver, "job-phone")
    use_phone(driver, False)

    driver.find_element(By.LINK_TEXT, "numbers.txt").click()
    saved = downloads / "numbers.txt"
    wait_until(saved.exists, 30, "the download of numbers.txt")
    wait_until(lambda: saved.read_bytes() == NUMBERS, 10, "numbers.txt downloaded whole")


def test_the_job_list_shows_a_new_job_and_its_end_without_reloading(
    driver: WebDriver, url: str, api: httpx.Client
) -> None:
    driver.get(f"{url}/ui/jobs")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".jobs-page"), 30, "the job list")
    mark_page(driver)
    job = submit(api, DOCKERFILE_QUICK, "listed live")
    row = f"//tr[td/a[@href='/ui/jobs/{job['id']}']]"
    wait_until(lambda: driver.find_elements(By.XPATH, row), 30, "the new job listed")
    wait_until(
        lambda: "succeeded" in driver.find_element(By.XPATH, row).text,
        JOB_SECONDS,
        "the new job shown succeeded in the list",
    )
    assert not_reloaded(driver)
    screenshot(driver, "jobs")
    use_phone(driver, True)
    screenshot(driver, "jobs-phone")


def test_cancel_a_running_job(driver: WebDriver, url: str, api: httpx.Client) -> None:
    job = submit(api, DOCKERFILE_SLEEP, "to be cancelled")
    driver.get(f"{url}/ui/jobs/{job['id']}")
    wait_until(lambda: _status(driver) == "running", JOB_SECONDS, "the job shown running")
    mark_page(driver)
    driver.find_element(By.CSS_SELECTOR, "button[data-action='cancel']").click()
    wait_until(lambda: _status(driver) == "cancelled", 60, "the job shown cancelled")
    assert not_reloaded(driver)
    ended = wait_terminal(api, job["id"])
    assert (ended["status"], ended["reason"]) == ("cancelled", "cancelled")


def test_the_form_shows_why_a_submission_was_refused(
    driver: WebDriver, url: str, tmp_path: Path
) -> None:
    driver.get(f"{url}/ui/submit")
    driver.find_element(By.ID, "submit-button").click()
    assert "Choose a folder" in text_of(driver, "#submit-error")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE_QUICK)
    driver.find_element(By.ID, "pick-files").send_keys(str(dockerfile))
    driver.find_element(By.ID, "f-memory").send_keys("1")
    driver.find_element(By.ID, "submit-button").click()
    message = wait_until(lambda: text_of(driver, "#submit-error"), 30, "the error shown")
    assert message.startswith("The job was not accepted: ") and "memory_mb" in message
    assert driver.current_url.endswith("/ui/submit")
