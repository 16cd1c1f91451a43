"""Session fixtures: one HTTP client for the stack at DCCF_URL, and the batch of jobs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .batch import Batch, Submitter
from .target import URL, auth_headers


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    """A client for the stack; fails every test loudly when the stack does not answer."""
    with httpx.Client(
        base_url=URL,
        headers=auth_headers(),
        timeout=httpx.Timeout(90.0, connect=10.0),
        limits=httpx.Limits(max_connections=32),
    ) as http:
        health = _healthz(http)
        if isinstance(health, httpx.HTTPError):
            pytest.fail(
                f"No DCCF stack answers at DCCF_URL={URL} ({health!r}). The e2e suite needs a "
                "running stack: start one with `scripts/dev up`, or set DCCF_URL to its URL.",
                pytrace=False,
            )
        if health.status_code != 200:
            pytest.fail(
                f"DCCF at {URL} answered GET /healthz with {health.status_code}: "
                f"{health.text[:500]}. Fix the stack before running the e2e suite.",
                pytrace=False,
            )
        yield http


def _healthz(http: httpx.Client) -> httpx.Response | httpx.HTTPError:
    try:
        return http.get("/healthz")
    except httpx.HTTPError as exc:
        return exc


@pytest.fixture(scope="session", autouse=True)
def batch(client: httpx.Client, request: pytest.FixtureRequest) -> Batch:
    submitters: dict[str, Submitter] = {}
    modules = {getattr(item, "module", None) for item in request.session.items}
    # Only this suite's modules: other tiers in the same session may use the name JOBS.
    ours = [m for m in filter(None, modules) if m.__name__.startswith(f"{__package__}.")]
    for module in sorted(ours, key=lambda m: m.__name__):
        for name, submitter in getattr(module, "JOBS", {}).items():
            assert name not in submitters, f"job name {name!r} declared by two e2e modules"
            submitters[name] = submitter
    return Batch(client, submitters)
