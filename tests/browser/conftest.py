"""Browser fixtures: the stack at DCCF_URL (scripts/dev test gives its DCCF_* settings), and a
fresh headless Chromium per test. Missing services or tools fail the tests, never skip them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from dccf import settings

from .browser import Problem, check_tools, chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def url() -> str:
    return settings.load().client.url.rstrip("/")


@pytest.fixture(scope="session")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=httpx.Timeout(90.0, connect=10.0)) as client:
        try:
            client.get("/healthz").raise_for_status()
        except httpx.HTTPError as exc:
            pytest.fail(
                f"no DCCF stack answers at DCCF_URL={url} ({exc!r}): run the browser tests with "
                "scripts/dev test tests/browser, or scripts/dev up and its env first",
                pytrace=False,
            )
        yield client


@pytest.fixture(scope="session", autouse=True)
def tools() -> None:
    try:
        check_tools()
    except Problem as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("processes")


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def extra_ports() -> list[int]:
    """Ports of masters a test starts itself, which the browser must be allowed to reach."""
    return []


@pytest.fixture
def driver(url: str, downloads: Path, extra_ports: list[int]) -> Iterator[WebDriver]:
    port = urlsplit(url).port or 80
    with chromium([port, *extra_ports], downloads) as browser:
        yield browser
