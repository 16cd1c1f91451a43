"""The original DCCF's endpoints, as its clients call them."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from .api import expect, post_form
from .batch import Batch, Submitter
from .forms import upload
from .shapes import assert_error

pytestmark = pytest.mark.e2e

LEGACY_STATUSES = {"SUBMITTED", "PROCESSING", "COMPLETE", "ERROR"}
DEMO_OUTPUT = re.compile(
    rb"^Hello from the DCCF demo job\nfinished at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$"
)

# The original client names the part `dockerFile` and uploads a file called `dockerfile`.
TASK_DOCKERFILE = """\
FROM debian:bookworm-slim
COPY run.sh greeting.txt /task/
CMD ["/bin/sh", "/task/run.sh"]
"""
TASK_RUN = 'cat /task/greeting.txt > /output/result.txt\necho "legacy ok" >> /output/result.txt\n'


def _legacy_submit(dockerfile: str, task_files: dict[str, str]) -> Submitter:
    parts = [upload("dockerFile", "dockerfile", dockerfile)]
    parts += [upload("taskFiles", name, data) for name, data in task_files.items()]
    return lambda client: post_form(client, "/submit", parts)


JOBS = {
    "legacy_demo": lambda client: client.post("/submitDemo"),
    "legacy_task": _legacy_submit(
        TASK_DOCKERFILE, {"run.sh": TASK_RUN, "greeting.txt": "hello, legacy\n"}
    ),
    "legacy_broken": _legacy_submit("FROM debian:bookworm-slim\nRUN exit 3\n", {}),
}


def _status(client: httpx.Client, method: str, job_id: int | str) -> httpx.Response:
    return client.request(method, "/getJobStatus", params={"jobId": job_id})


def _files(client: httpx.Client, method: str, job_id: int) -> list[dict[str, str]]:
    response = client.request(method, "/getResultingFiles", params={"jobId": job_id})
    assert response.status_code == 200, response.text
    files = response.json()
    assert isinstance(files, list), files
    for entry in files:
        assert set(entry) == {"fileId", "fileType", "name", "fileData"}, entry
        assert entry["fileType"] in {"LOG", "RETURN"}, entry
    return files


def _returned(files: list[dict[str, str]]) -> dict[str, bytes]:
    return {f["name"]: base64.b64decode(f["fileData"]) for f in files if f["fileType"] == "RETURN"}


@pytest.mark.parametrize("name", ["legacy_demo", "legacy_task", "legacy_broken"])
def test_legacy_submissions_answer_200_with_a_numeric_id(batch: Batch, name: str) -> None:
    response = batch.response(name)
    assert response.status_code == 200, response.text
    job_id = response.json()
    assert isinstance(job_id, int) and not isinstance(job_id, bool) and job_id > 0, job_id


def test_status_of_a_fresh_submission_is_a_legacy_word(client: httpx.Client) -> None:
    job_id = client.post("/submitDemo").json()
    for method in ("GET", "POST"):
        response = _status(client, method, job_id)
        assert response.status_code == 200, response.text
        assert response.json() in LEGACY_STATUSES


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_demo_completes_with_its_output_and_logs(
    client: httpx.Client, batch: Batch, method: str
) -> None:
    job = batch.result("legacy_demo")
    expect(client, job, "succeeded")
    assert _status(client, method, job["id"]).json() == "COMPLETE"
    files = _files(client, method, job["id"])
    returned = _returned(files)
    assert set(returned) == {"output.txt"}, files
    assert DEMO_OUTPUT.match(returned["output.txt"]), returned["output.txt"]
    logs = b"".join(base64.b64decode(f["fileData"]) for f in files if f["fileType"] == "LOG")
    assert b"DCCF demo job starting" in logs
    assert b"this line goes to stderr" in logs


def test_submit_keeps_task_file_names(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("legacy_task")
    expect(client, job, "succeeded")
    assert _status(client, "GET", job["id"]).json() == "COMPLETE"
    assert _returned(_files(client, "GET", job["id"])) == {
        "result.txt": b"hello, legacy\nlegacy ok\n"
    }


def test_failed_build_is_error_not_complete(client: httpx.Client, batch: Batch) -> None:
    job = batch.result("legacy_broken")
    expect(client, job, "failed", "build_failed")
    assert _status(client, "GET", job["id"]).json() == "ERROR"


@pytest.mark.parametrize("endpoint", ["/getJobStatus", "/getResultingFiles"])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("job_id", ["999999999999", "abc", "-1", "0", "9" * 30])
def test_unknown_or_malformed_job_id_is_404(
    client: httpx.Client, endpoint: str, method: str, job_id: str
) -> None:
    assert_error(client.request(method, endpoint, params={"jobId": job_id}), 404)
