from __future__ import annotations

import html
import importlib.metadata
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from dccf.job_records import JobRecord
from dccf.jobs import JobLimits, JobStatus, Network, Reason
from dccf.workers import WorkerRecord, WorkerState
from services.master import (
    auth,
    errors,
    job_form,
    jobs_api,
    legacy_api,
    resubmit_api,
    service_api,
    workers_api,
)
from services.master.docs_page import docs_html, render_html
from services.master.job_json import job_json
from services.master.openapi import spec

# Every endpoint API.md names, whether or not its route is registered yet.
API_MD_OPERATIONS = {
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("post", "/v1/jobs/{id}/cancel"),
    ("get", "/v1/jobs/{id}/logs"),
    ("get", "/v1/jobs/{id}/outputs"),
    ("get", "/v1/jobs/{id}/outputs/{path}"),
    ("get", "/v1/jobs/{id}/outputs.tar.gz"),
    ("post", "/v1/demo"),
    ("post", "/submit"),
    ("post", "/submitDemo"),
    ("get", "/getJobStatus"),
    ("post", "/getJobStatus"),
    ("get", "/getResultingFiles"),
    ("post", "/getResultingFiles"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
}
# Beyond API.md: the workers registry and resubmission, for the dashboard and the CLI.
REGISTRY_OPERATIONS = {("get", "/v1/workers"), ("post", "/v1/jobs/{id}/resubmit")}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
CREATED = datetime(2026, 11, 27, 19, 10, 27, tzinfo=UTC)


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one component schema, its $refs resolved inside the document."""
    root = {"$ref": f"#/components/schemas/{name}", "components": spec()["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def record(**changes: Any) -> JobRecord:
    fields: dict[str, Any] = {
        "id": 7,
        "principal": "alice",
        "name": None,
        "status": JobStatus.QUEUED,
        "reason": None,
        "exit_code": None,
        "attempt": 0,
        "worker": None,
        "cancel_requested": False,
        "limits": JobLimits(timeout_seconds=3600, memory_mb=512, cpus=1.0),
        "callback_url": None,
        "build_args": {},
        "created_at": CREATED,
        "started_at": None,
        "finished_at": None,
    }
    fields.update(changes)
    return JobRecord(**fields)


def test_spec_is_valid_openapi_3_1() -> None:
    document = spec()
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_spec_and_page_are_built_once() -> None:
    assert spec() is spec()
    assert docs_html() is docs_html()


def test_version_comes_from_the_package_metadata() -> None:
    assert spec()["info"]["version"] == importlib.metadata.version("dccf")


@pytest.mark.parametrize(
    "module",
    [jobs_api, legacy_api, service_api, workers_api, resubmit_api],
    ids=lambda m: m.__name__,
)
def test_every_registered_route_is_described(module: Any) -> None:
    described = operations()
    for route in module.routes:
        assert isinstance(route, Route)
        # Starlette's `{path:path}` is OpenAPI's `{path}`.
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in (route.methods or set()) - {"HEAD"}:
            assert (method.lower(), path) in described, f"{method} {route.path} is not in the spec"


def test_every_api_md_endpoint_is_described_and_nothing_else() -> None:
    assert set(operations()) == API_MD_OPERATIONS | REGISTRY_OPERATIONS


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for op in operations().values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "job",
    [
        record(),
        record(
            name="nightly <build>",
            status=JobStatus.FAILED,
            reason=Reason.OOM_KILLED,
            exit_code=137,
            attempt=2,
            worker="dccf-worker-1",
            limits=JobLimits(timeout_seconds=60, memory_mb=16, cpus=0.1, network=Network.BRIDGE),
            callback_url="https://hooks.example.org/dccf",
            started_at=CREATED,
            finished_at=CREATED,
        ),
    ],
    ids=["queued", "failed"],
)
def test_job_schema_is_exactly_what_job_json_produces(job: JobRecord) -> None:
    body = job_json(job)
    schema = spec()["components"]["schemas"]["Job"]
    assert set(schema["properties"]) == set(body)
    assert set(schema["required"]) == set(body)
    schema_validator("Job").validate(body)


def test_limits_and_links_schemas_match_the_job_object() -> None:
    schemas = spec()["components"]["schemas"]
    body = job_json(record())
    assert set(schemas["Limits"]["properties"]) == set(body["limits"])
    assert set(schemas["Limits"]["required"]) == set(body["limits"])
    assert set(schemas["Links"]["properties"]) == set(body["links"])
    assert set(schemas["Links"]["required"]) == set(body["links"])


def test_status_and_reason_enums_are_the_models() -> None:
    properties = spec()["components"]["schemas"]["Job"]["properties"]
    assert properties["status"]["enum"] == [s.value for s in JobStatus]
    assert properties["reason"]["enum"] == [*(r.value for r in Reason), None]
    assert properties["reason"]["type"] == ["string", "null"]


def test_job_schema_rejects_an_unknown_status_and_a_missing_key() -> None:
    validator = schema_validator("Job")
    body = job_json(record())
    assert not validator.is_valid({**body, "status": "paused"})
    del body["links"]
    assert not validator.is_valid(body)


def test_the_api_md_example_job_is_valid() -> None:
    schema = spec()["components"]["schemas"]["Job"]
    for example in schema["examples"]:
        schema_validator("Job").validate(example)


@pytest.mark.parametrize("error_class", errors.ApiError.__subclasses__())
def test_error_schema_matches_every_api_error(error_class: type[errors.ApiError]) -> None:
    schema_validator("Error").validate(error_class("try again").body())
    assert not schema_validator("Error").is_valid({"error": "flat string"})


def test_every_error_response_carries_the_error_object() -> None:
    statuses = set()
    for (method, path), operation in operations().items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                statuses.add(status)
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert statuses == {"400", "401", "404", "409", "413", "415", "503"}
    assert "MethodNotAllowed" in spec()["components"]["responses"]


def test_auth_is_required_everywhere_but_the_middlewares_open_paths() -> None:
    document = spec()
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for (method, path), operation in operations().items():
        if path in auth.OPEN_PATHS:
            assert operation["security"] == [], (method, path)
            assert "401" not in operation["responses"]
        else:
            assert "security" not in operation, (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_submit_documents_every_part_the_server_reads() -> None:
    operation = spec()["paths"]["/v1/jobs"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {*job_form.TEXT_FIELDS, *job_form.FILE_PARTS}
    assert form["properties"]["files"]["type"] == "array"
    for name in job_form.TEXT_FIELDS:
        assert form["properties"][name]["type"] == "string", name
    assert set(operation["responses"]) == {"200", "201", "400", "401", "413", "415", "503"}
    assert "Location" in operation["responses"]["201"]["headers"]
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    assert "MiB" in form["description"]


def test_state_changes_answer_as_api_md_says() -> None:
    described = operations()
    cancel = described[("post", "/v1/jobs/{id}/cancel")]["responses"]
    delete = described[("delete", "/v1/jobs/{id}")]["responses"]
    assert {"202", "404", "409"} <= set(cancel)
    assert {"204", "404", "409"} <= set(delete)
    assert "content" not in delete["204"]
    assert "201" in described[("post", "/v1/demo")]["responses"]


def query(path: str, name: str, method: str = "get") -> dict[str, Any]:
    parameters = spec()["paths"][path][method]["parameters"]
    return next(p for p in parameters if p["name"] == name)


def test_query_parameters_carry_their_ranges() -> None:
    limit = query("/v1/jobs", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 50)
    wait = query("/v1/jobs/{id}", "wait")["schema"]
    assert (wait["minimum"], wait["maximum"]) == (0, 60)
    assert query("/v1/jobs", "status")["schema"]["enum"] == [s.value for s in JobStatus]
    assert query("/v1/jobs/{id}/logs", "stream")["schema"]["enum"] == ["build", "stdout", "stderr"]
    assert query("/v1/jobs", "before")["schema"] == {"type": "string"}
    assert query("/getJobStatus", "jobId", "post")["required"] is True


def test_webhook_event_is_described() -> None:
    hook = spec()["webhooks"]["job.status"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookEvent"
    }
    headers = {p["name"] for p in hook["parameters"]}
    assert headers == {"X-DCCF-Event", "X-DCCF-Delivery", "X-DCCF-Signature"}
    schema_validator("WebhookEvent").validate({"event": "job.status", "job": job_json(record())})


def test_docs_page_shows_every_operation() -> None:
    page = docs_html()
    for method, path in API_MD_OPERATIONS:
        assert f"<code>{path}</code>" in page
        assert f'class="method {method}">{method.upper()}</span><code>{path}</code>' in page
    for operation in operations().values():
        assert html.escape(operation["summary"]) in page
    assert "Authorization: Bearer &lt;token&gt;" in page
    for part in (*job_form.TEXT_FIELDS, *job_form.FILE_PARTS):
        assert f"<td><code>{part}</code></td>" in page


def test_docs_page_loads_nothing_from_elsewhere() -> None:
    page = docs_html()
    assert page.startswith("<!DOCTYPE html>")
    for forbidden in ("<script", "<link", "<img", "<iframe", "src=", "@import", "url("):
        assert forbidden not in page
    links = re.findall(r'href="([^"]*)"', page)
    assert links
    assert all(link.startswith("#") for link in links), "the page links only within itself"


def test_docs_page_escapes_the_documents_text() -> None:
    hostile = '<script>alert("x")</script>'
    document = {
        "openapi": "3.1.0",
        "info": {"title": hostile, "version": "1", "description": hostile},
        "paths": {
            "/a<b>": {
                "get": {
                    "summary": hostile,
                    "description": f"`{hostile}`",
                    "parameters": [
                        {"name": hostile, "in": "query", "schema": {"pattern": hostile}}
                    ],
                    "responses": {"200": {"description": hostile}},
                }
            }
        },
    }
    page = render_html(document)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<code>/a&lt;b&gt;</code>" in page


def test_the_endpoints_serve_the_document_and_the_page() -> None:
    served = {"/openapi.json", "/docs"}
    app = Starlette(routes=[r for r in service_api.routes if getattr(r, "path", "") in served])
    with TestClient(app) as client:
        document = client.get("/openapi.json")
        page = client.get("/docs")
    assert document.status_code == 200
    assert document.json() == spec()
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == docs_html()


def test_worker_schema_is_exactly_what_worker_json_produces() -> None:
    body = workers_api.worker_json(
        WorkerRecord(
            id="dccf-worker-1",
            host="node-1",
            version="0.1.0",
            slots=2,
            state=WorkerState.LOST,
            started_at=CREATED,
            last_seen=CREATED,
            stopped_at=None,
            jobs=[4, 9],
        )
    )
    schema = spec()["components"]["schemas"]["Worker"]
    assert set(schema["properties"]) == set(body) == set(schema["required"])
    schema_validator("Worker").validate(body)
    assert schema["properties"]["state"]["enum"] == [s.value for s in WorkerState]
