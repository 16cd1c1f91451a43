"""Service endpoints, method and route errors, and the auth rule."""

from __future__ import annotations

import re

import httpx
import pytest

from .shapes import assert_error
from .target import TOKEN, URL

pytestmark = pytest.mark.e2e

V1_OPERATIONS = {
    ("/v1/jobs", "get"),
    ("/v1/jobs", "post"),
    ("/v1/jobs/{}", "get"),
    ("/v1/jobs/{}", "delete"),
    ("/v1/jobs/{}/logs", "get"),
    ("/v1/jobs/{}/outputs", "get"),
    ("/v1/jobs/{}/outputs/{}", "get"),
    ("/v1/jobs/{}/outputs.tar.gz", "get"),
    ("/v1/jobs/{}/cancel", "post"),
    ("/v1/demo", "post"),
}


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200


def test_readyz_reports_ready(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, f"the stack is not ready: {response.text}"


def test_metrics_are_prometheus_text_with_dccf_series(client: httpx.Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = [line for line in response.text.splitlines() if line.startswith("dccf_")]
    assert samples, f"no dccf_* sample in /metrics:\n{response.text[:2000]}"
    assert re.search(r"^# TYPE dccf_\w+ \w+$", response.text, re.MULTILINE), response.text[:2000]


def test_openapi_describes_every_v1_operation(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert str(spec.get("openapi", "")).startswith("3"), spec.get("openapi")
    operations = {
        (re.sub(r"\{[^}]*\}", "{}", path), method.lower())
        for path, item in spec["paths"].items()
        for method in item
    }
    missing = V1_OPERATIONS - operations
    assert not missing, f"/openapi.json lacks {sorted(missing)}; it has {sorted(operations)}"


def test_docs_page_is_html(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/jobs"),
        ("DELETE", "/v1/jobs"),
        ("PATCH", "/v1/jobs/1"),
        ("POST", "/v1/jobs/1"),
        ("GET", "/v1/jobs/1/cancel"),
        ("POST", "/v1/jobs/1/logs"),
        ("GET", "/v1/demo"),
        ("POST", "/healthz"),
        ("GET", "/submit"),
        ("GET", "/submitDemo"),
        ("PUT", "/getJobStatus"),
    ],
)
def test_wrong_method_is_405(client: httpx.Client, method: str, path: str) -> None:
    assert_error(client.request(method, path), 405)


def test_unknown_route_is_404(client: httpx.Client) -> None:
    assert_error(client.get("/v1/no-such-thing"), 404)


def test_auth_rule() -> None:
    """With DCCF_TOKEN set the stack must demand it; without, the API must be open."""
    with httpx.Client(base_url=URL, timeout=30.0) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/metrics").status_code == 200
        listing = anonymous.get("/v1/jobs", params={"limit": 1})
        if not TOKEN:
            assert listing.status_code == 200, listing.text
            return
        assert_error(listing, 401)
        assert listing.headers.get("www-authenticate", "").startswith("Bearer")
        wrong = anonymous.get("/v1/jobs", headers={"Authorization": f"Bearer wrong-{TOKEN}"})
        assert_error(wrong, 401)
        assert_error(anonymous.post("/v1/demo"), 401)
        assert_error(anonymous.get("/getJobStatus", params={"jobId": 1}), 401)
