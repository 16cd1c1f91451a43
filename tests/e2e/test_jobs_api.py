"""The v1 job resource: creation, the job object, listing, logs, waiting, cancel and delete."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from .api import (
    created,
    describe,
    expect,
    get_job,
    iter_jobs,
    logs,
    newest_id,
    output_bytes,
    outputs,
    post_form,
    submit,
)
from .batch import Batch
from .forms import job_parts
from .shapes import STATUSES, assert_error, assert_job

pytestmark = pytest.mark.e2e

TRUE_DOCKERFILE = 'FROM debian:bookworm-slim\nCMD ["true"]\n'
LONG_NAME = "limits-" + "x" * 193  # exactly the 200 characters API.md allows
LIMITS = {"timeout_seconds": 120, "memory_mb": 64, "cpus": 0.5, "network": "none"}
# .invalid never resolves (RFC 2606): a name the server must accept, whose deliveries go nowhere.
CALLBACK = "https://dccf-e2e.invalid/hook"
LOG_TOTAL = 8 * 1024 * 1024  # well over the default 1 MiB per-stream log cap
LOG_FLOOD_DOCKERFILE = f"""\
FROM debian:bookworm-slim
CMD ["/bin/sh", "-c", "yes {"0123456789abcdef" * 4} | head -c {LOG_TOTAL}"]
"""
DEMO_STDOUT = "DCCF demo job starting"
DEMO_STDERR = "this line goes to stderr"

JOBS = {
    "demo": lambda client: client.post("/v1/demo"),
    "limits": lambda client: submit(
        client,
        job_parts(
            TRUE_DOCKERFILE,
            name=LONG_NAME,
            callback_url=CALLBACK,
            priority="-7",
            **{key: str(value) for key, value in LIMITS.items()},
        ),
    ),
    "log_flood": lambda client: submit(client, job_parts(LOG_FLOOD_DOCKERFILE)),
}


def _location_path(response: httpx.Response) -> str:
    return urlsplit(response.headers.get("location", "")).path


# --- creation and the job object ----------------------------------------------------------


def test_created_job_echoes_the_request(batch: Batch) -> None:
    response = batch.response("limits")
    job = created(response)
    assert_job(job)
    assert _location_path(response) == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["name"] == LONG_NAME
    assert job["limits"] == LIMITS
    assert job["callback_url"] == CALLBACK
    assert job["priority"] == -7
    assert (job["started_at"], job["finished_at"], job["exit_code"]) == (None, None, None)


def test_finished_job_keeps_its_limits(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("limits")
    expect(client, job, "succeeded")
    assert_job(job)
    assert job["limits"] == LIMITS


def test_demo_via_v1(client: httpx.Client, batch: Batch) -> None:
    response = batch.response("demo")
    assert response.status_code == 201, response.text
    assert _location_path(response) == f"/v1/jobs/{response.json()['id']}"
    assert_job(response.json())
    job = batch.result("demo")
    expect(client, job, "succeeded")
    assert_job(job)
    assert job["exit_code"] == 0
    assert job["attempt"] >= 1 and job["worker"]
    assert job["limits"]["network"] == "none"
    assert set(outputs(client, job["id"])) == {"output.txt"}
    assert re.fullmatch(
        rb"Hello from the DCCF demo job\nfinished at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n",
        output_bytes(client, job["id"], "output.txt"),
    )


# --- logs -----------------------------------------------------------------------------------


def test_logs_by_stream(client: httpx.Client, batch: Batch) -> None:
    job_id = batch.result("demo")["id"]
    response = client.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stdout"})
    assert response.headers["content-type"].startswith("text/plain")
    stdout, stderr = response.text, logs(client, job_id, "stderr")
    assert DEMO_STDOUT in stdout and "wrote /output/output.txt" in stdout
    assert DEMO_STDERR not in stdout
    assert DEMO_STDERR in stderr and DEMO_STDOUT not in stderr
    assert logs(client, job_id, "build").strip(), "the build log is empty"


def test_logs_without_stream_has_three_headed_sections(client: httpx.Client, batch: Batch) -> None:
    job_id = batch.result("demo")["id"]
    response = client.get(f"/v1/jobs/{job_id}/logs")
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    content = {line for line in lines if DEMO_STDOUT in line or DEMO_STDERR in line}
    headers: dict[str, int] = {}
    for stream in ("build", "stdout", "stderr"):
        pattern = re.compile(rf"\b{stream}\b", re.IGNORECASE)
        found = [i for i, line in enumerate(lines) if pattern.search(line) and line not in content]
        assert found, f"no header line for {stream} in:\n{response.text[:3000]}"
        headers[stream] = found[0]
    bounds = [*sorted(headers.values()), len(lines)]

    def section(stream: str) -> str:
        start = headers[stream]
        return "\n".join(lines[start + 1 : bounds[bounds.index(start) + 1]])

    assert DEMO_STDOUT in section("stdout") and DEMO_STDERR not in section("stdout")
    assert DEMO_STDERR in section("stderr") and DEMO_STDOUT not in section("stderr")


def test_bad_log_stream_is_400(client: httpx.Client, batch: Batch) -> None:
    job_id = batch.job_id("demo")
    assert_error(client.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stdin"}), 400)


def test_capped_log_ends_with_the_dropped_byte_count(client: httpx.Client, batch: Batch) -> None:
    """Assumes the stack's log cap is under 8 MiB (the default is 1 MiB)."""
    job = batch.result("log_flood")
    expect(client, job, "succeeded")
    text = logs(client, job["id"], "stdout").encode()
    assert len(text) < LOG_TOTAL, f"an {LOG_TOTAL}-byte stdout was kept whole ({len(text)} bytes)"
    marker = text.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    kept = len(text) - len(marker)
    counts = [int(number) for number in re.findall(rb"\d+", marker)]
    assert any(abs(kept + n - LOG_TOTAL) <= 256 for n in counts), (
        f"the last line should say how many of {LOG_TOTAL} bytes were dropped "
        f"({kept} kept): {marker!r}"
    )


# --- waiting ------------------------------------------------------------------------------


def test_wait_on_a_terminal_job_answers_at_once(client: httpx.Client, batch: Batch) -> None:
    job_id = batch.result("demo")["id"]
    started = time.monotonic()
    assert get_job(client, job_id, wait=60)["status"] == "succeeded"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("wait", ["-1", "61", "abc", "1.5"])
def test_wait_out_of_range_is_400(client: httpx.Client, batch: Batch, wait: str) -> None:
    assert_error(client.get(f"/v1/jobs/{batch.job_id('demo')}", params={"wait": wait}), 400)


# --- listing ------------------------------------------------------------------------------


def _page(client: httpx.Client, **params: object) -> dict:
    response = client.get("/v1/jobs", params=params)
    assert response.status_code == 200, f"GET /v1/jobs {params}: {response.text}"
    body = response.json()
    assert set(body) == {"jobs", "next"}, body
    for job in body["jobs"]:
        assert_job(job)
    return body


def test_listing_is_newest_first_and_pages_with_before(client: httpx.Client, batch: Batch) -> None:
    batch.job_id("log_flood")  # this module's jobs make at least three to page through
    first = [job["id"] for job in _page(client, limit=3)["jobs"]]
    assert len(first) == 3 and first == sorted(first, reverse=True) and len(set(first)) == 3
    paged: list[int] = []
    cursor = None
    for _ in range(3):
        assert cursor is not None or not paged, "a full page before the last job had no next"
        page = _page(client, limit=1, **({} if cursor is None else {"before": cursor}))
        assert len(page["jobs"]) == 1, page
        paged.append(page["jobs"][0]["id"])
        cursor = page["next"]
    assert paged == first


def test_listing_by_priority_pages_highest_first(client: httpx.Client, batch: Batch) -> None:
    limits_id = batch.job_id("limits")  # priority -7
    found = _page(client, priority="-7", limit=200)["jobs"]
    assert limits_id in {job["id"] for job in found}
    assert {job["priority"] for job in found} == {-7}
    seen: list[tuple[int, int]] = []
    cursor = None
    for _ in range(3):
        page = _page(client, order="priority", limit=2, **({"before": cursor} if cursor else {}))
        seen += [(job["priority"], job["id"]) for job in page["jobs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen and seen == sorted(seen, reverse=True), seen


def test_listing_default_limit_is_at_most_50(client: httpx.Client) -> None:
    page = _page(client)
    assert len(page["jobs"]) <= 50
    if len(page["jobs"]) < 50:
        assert page["next"] is None


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_listing_filters_by_status(client: httpx.Client, status: str) -> None:
    page = _page(client, status=status, limit=200)
    assert {job["status"] for job in page["jobs"]} <= {status}


def test_status_filter_finds_a_known_job(client: httpx.Client, batch: Batch) -> None:
    demo_id = batch.result("demo")["id"]
    for job in iter_jobs(client, status="succeeded"):
        assert job["status"] == "succeeded"
        if job["id"] <= demo_id:
            assert job["id"] == demo_id, f"job {demo_id} missing from ?status=succeeded"
            return
    pytest.fail(f"job {demo_id} missing from ?status=succeeded")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-5"},
        {"limit": "ten"},
        {"status": "finished"},
        {"before": "not-a-cursor"},
        {"priority": "101"},
        {"priority": "high"},
        {"order": "oldest"},
        {"order": "priority", "before": "17"},
    ],
)
def test_listing_rejects_bad_parameters(client: httpx.Client, params: dict[str, str]) -> None:
    assert_error(client.get("/v1/jobs", params=params), 400)


# --- unknown jobs -------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/v1/jobs/{}"),
    ("GET", "/v1/jobs/{}/logs"),
    ("GET", "/v1/jobs/{}/outputs"),
    ("GET", "/v1/jobs/{}/outputs/output.txt"),
    ("GET", "/v1/jobs/{}/outputs.tar.gz"),
    ("POST", "/v1/jobs/{}/cancel"),
    ("DELETE", "/v1/jobs/{}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("job_id", ["999999999999", "abc", "-1", "0", "1.5", "9" * 30])
def test_unknown_or_malformed_job_is_404(
    client: httpx.Client, method: str, path: str, job_id: str
) -> None:
    assert_error(client.request(method, path.format(job_id)), 404)


# --- cancel, delete, idempotency ----------------------------------------------------------


def test_cancel_then_delete(client: httpx.Client) -> None:
    job = created(
        submit(
            client,
            job_parts('FROM debian:bookworm-slim\nCMD ["sleep", "120"]\n', timeout_seconds="300"),
        )
    )
    job_id = job["id"]

    started = time.monotonic()
    waiting = get_job(client, job_id, wait=2)
    assert 1.5 <= time.monotonic() - started < 20, "?wait=2 on a live job should take ~2 s"
    assert waiting["status"] in {"queued", "running"}, describe(client, job_id)

    assert_error(client.delete(f"/v1/jobs/{job_id}"), 409)

    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    assert_job(response.json())
    assert response.json()["status"] in {"running", "cancelled"}

    started = time.monotonic()
    final = get_job(client, job_id, wait=60)
    assert time.monotonic() - started < 30, f"cancel took over 30 s\n{describe(client, job_id)}"
    expect(client, final, "cancelled", "cancelled")
    assert_job(final)

    assert_error(client.post(f"/v1/jobs/{job_id}/cancel"), 409)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert_error(client.get(f"/v1/jobs/{job_id}"), 404)
    assert_error(client.get(f"/v1/jobs/{job_id}/logs"), 404)
    assert_error(client.get(f"/v1/jobs/{job_id}/outputs"), 404)


def test_idempotency_key_returns_the_first_job(client: httpx.Client) -> None:
    parts = job_parts(TRUE_DOCKERFILE, name="idempotent")
    key = {"Idempotency-Key": f"dccf-e2e-{uuid.uuid4()}"}
    first = created(post_form(client, "/v1/jobs", parts, headers=key))
    before = newest_id(client)
    again = post_form(client, "/v1/jobs", parts, headers=key)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert newest_id(client) == before
