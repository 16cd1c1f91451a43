"""Real answers checked against the schemas the server's own /openapi.json states for them.

The schemas are generated from the models the handlers encode with; these tests catch a handler
that sends what its described schema does not allow (a missing key, a wrong type, an unlisted
status), whichever side drifted.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from .api import post_form, submit, wait_terminal
from .batch import Batch
from .forms import job_parts, text
from .target import TOKEN, URL

pytestmark = pytest.mark.e2e

DOCKERFILE = """\
FROM debian:bookworm-slim
CMD mkdir -p /output/sub && echo contract > /output/sub/a.txt && echo done
"""

JOBS = {
    "contract": lambda client: submit(
        client, job_parts(DOCKERFILE, name="contract ü", priority="3")
    ),
}


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def check(self, response: httpx.Response, path: str, method: str = "get") -> Any:
        """The JSON body, after checking it against the spec's schema for this status."""
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method.upper()} {path} answered {status}, which the spec does not list: "
            f"{response.text[:500]}"
        )
        content = operation["responses"][status].get("content", {})
        assert response.headers["content-type"] == "application/json", response.headers
        schema = content["application/json"]["schema"]
        body = response.json()
        root = {**schema, "components": self.document["components"]}
        validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{method.upper()} {path} ({status}) breaks its schema: {errors}"
        return body


@pytest.fixture(scope="module")
def contract(client: httpx.Client) -> Contract:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text[:500]
    return Contract(response.json())


def test_a_jobs_answers_match_their_schemas(
    client: httpx.Client, contract: Contract, batch: Batch
) -> None:
    created = contract.check(batch.response("contract"), "/v1/jobs", "post")
    job_id = created["id"]
    assert created["name"] == "contract ü"
    wait_terminal(client, job_id)
    job = contract.check(client.get(f"/v1/jobs/{job_id}"), "/v1/jobs/{id}")
    assert (job["status"], job["reason"], job["exit_code"]) == ("succeeded", None, 0)
    page = contract.check(client.get("/v1/jobs", params={"limit": 1}), "/v1/jobs")
    assert len(page["jobs"]) == 1 and page["next"] is not None
    after = client.get("/v1/jobs", params={"limit": 1, "before": page["next"]})
    contract.check(after, "/v1/jobs")
    by_priority = client.get("/v1/jobs", params={"limit": 1, "order": "priority"})
    contract.check(by_priority, "/v1/jobs")
    files = contract.check(client.get(f"/v1/jobs/{job_id}/outputs"), "/v1/jobs/{id}/outputs")
    assert [f["path"] for f in files["files"]] == ["sub/a.txt"]
    conflict = client.post(f"/v1/jobs/{job_id}/cancel")
    assert contract.check(conflict, "/v1/jobs/{id}/cancel", "post")["error"]["code"]
    status = contract.check(client.get("/getJobStatus", params={"jobId": job_id}), "/getJobStatus")
    assert status == "COMPLETE"
    legacy = client.post("/getResultingFiles", params={"jobId": job_id})
    entries = contract.check(legacy, "/getResultingFiles", "post")
    assert {e["fileType"] for e in entries} == {"LOG", "RETURN"}


def test_workers_and_service_answers_match_their_schemas(
    client: httpx.Client, contract: Contract
) -> None:
    contract.check(client.get("/v1/workers"), "/v1/workers")
    contract.check(client.get("/healthz"), "/healthz")
    contract.check(client.get("/readyz"), "/readyz")


def test_error_answers_match_their_schemas(client: httpx.Client, contract: Contract) -> None:
    contract.check(client.get("/v1/jobs/999999999999"), "/v1/jobs/{id}")
    contract.check(client.get("/v1/jobs", params={"limit": 0}), "/v1/jobs")
    contract.check(client.get("/getJobStatus"), "/getJobStatus")
    not_multipart = client.post("/v1/jobs", json={"dockerfile": "FROM scratch"})
    contract.check(not_multipart, "/v1/jobs", "post")
    bad_field = post_form(client, "/v1/jobs", [text("memory_mb", "lots")])
    contract.check(bad_field, "/v1/jobs", "post")
    if TOKEN:
        with httpx.Client(base_url=URL) as anonymous:
            contract.check(anonymous.get("/v1/jobs"), "/v1/jobs")
