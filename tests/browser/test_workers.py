"""The workers page: a worker killed with SIGKILL turns from alive to lost, live."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from dccf import settings

from .browser import mark_page, not_reloaded, screenshot, wait_until
from .processes import own_worker


def _state(driver: WebDriver, worker_id: str) -> str:
    rows = driver.find_elements(By.CSS_SELECTOR, f"tr[data-worker='{worker_id}'] .chip")
    return rows[0].text if rows else ""


def test_a_killed_worker_is_marked_lost(driver: WebDriver, url: str, logs: Path) -> None:
    lost_after = settings.load().master.worker_lost_seconds
    with own_worker(logs) as (worker_id, proc):
        driver.get(f"{url}/ui/workers")
        wait_until(lambda: _state(driver, worker_id) == "alive", 90, f"{worker_id} shown alive")
        screenshot(driver, "workers")
        mark_page(driver)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_until(
            lambda: _state(driver, worker_id) == "lost",
            lost_after + 30,
            f"{worker_id} shown lost after its kill",
        )
        assert not_reloaded(driver)
