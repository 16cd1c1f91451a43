"""The dashboard and the workers registry over HTTP, against any stack."""

from __future__ import annotations

import httpx
import pytest

from .target import URL

pytestmark = pytest.mark.e2e


def test_the_root_answers_200_with_the_dashboard_without_a_token() -> None:
    # Probes of the original DCCF's `GET /` ("Working") must keep passing, token or not.
    response = httpx.get(f"{URL}/", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/ui/static/vendor/htmx.min.js" in response.text


def test_the_workers_registry_lists_live_workers(client: httpx.Client) -> None:
    body = client.get("/v1/workers").json()
    assert body["lost_after_seconds"] >= 1
    alive = [w for w in body["workers"] if w["state"] == "alive"]
    assert alive, f"no alive worker in {body}"
    assert all(isinstance(job_id, int) for w in alive for job_id in w["jobs"])
