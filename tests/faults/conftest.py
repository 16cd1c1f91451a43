"""Fault tests: they crash and stop parts of the running local stack and check that no job is
lost, none is recorded twice, and the stack recovers by itself.

They need the stack of this clone (`scripts/dev test` brings it up with short leases and
sweeps and three Kafka brokers; see scripts/localstack). Every test starts from a whole
stack and leaves one, also when it fails: the `whole_stack` fixture starts again whatever is
down and waits until the stack serves.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dccf import settings as dccf_settings
from dccf.settings import Settings

from .stack import LocalStack, StackProblem, wait_for

IDLE_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def settings() -> Settings:
    return dccf_settings.load()


@pytest.fixture(scope="session")
def local_stack(settings: Settings) -> LocalStack:
    try:
        return LocalStack.discover(settings)
    except StackProblem as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[httpx.Client]:
    token = settings.client.token
    with httpx.Client(
        base_url=settings.client.url,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=httpx.Timeout(30.0, connect=5.0),
    ) as http:
        yield http


@pytest.fixture(autouse=True)
def whole_stack(local_stack: LocalStack, client: httpx.Client) -> Iterator[LocalStack]:
    """A whole, idle stack before the test (its timings assume free workers), and a whole
    one after it, whatever the test did."""
    try:
        local_stack.restore()
        local_stack.wait_healthy()
        wait_for(lambda: not busy(client), IDLE_TIMEOUT, "the stack to finish earlier jobs")
    except (StackProblem, AssertionError) as exc:
        pytest.fail(f"the stack is not whole and idle before the test: {exc}", pytrace=False)
    yield local_stack
    local_stack.restore()
    local_stack.wait_healthy()


def busy(client: httpx.Client) -> list[int]:
    """Ids of jobs queued or running."""
    ids = []
    for status in ("queued", "running"):
        response = client.get("/v1/jobs", params={"status": status, "limit": 200})
        response.raise_for_status()
        ids += [job["id"] for job in response.json()["jobs"]]
    return ids
