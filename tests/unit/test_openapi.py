from __future__ import annotations

import dataclasses
import functools
import html
import importlib.metadata
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from dccf import settings
from dccf.db import DatabaseUnavailable
from dccf.job_records import JobRecord
from dccf.jobs import JobLimits, JobStatus, Network, Reason
from dccf.workers import WorkerRecord, WorkerState
from services.master import (
    auth,
    error_handlers,
    errors,
    job_form,
    jobs_api,
    legacy_api,
    models,
    openapi,
    resubmit_api,
    service_api,
    workers_api,
)
from services.master.docs_page import render_html
from services.master.job_json import job_json, job_model
from services.master.responses import ModelResponse

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
SETTINGS = settings.load()


@functools.cache
def spec() -> dict[str, Any]:
    """The document for the default settings, built once for the tests that only read it."""
    return openapi.spec(SETTINGS)


@functools.cache
def docs_html() -> str:
    return render_html(spec())


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


def test_spec_quotes_the_settings_it_is_handed() -> None:
    config = dataclasses.replace(
        SETTINGS,
        limits=dataclasses.replace(SETTINGS.limits, max_upload_bytes=7 * 1024 * 1024),
        master=dataclasses.replace(SETTINGS.master, max_wait_seconds=9),
    )
    document = openapi.spec(config)
    form = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert "capped at 7 MiB" in form["multipart/form-data"]["schema"]["description"]
    wait = document["paths"]["/v1/jobs/{id}"]["get"]["parameters"][0]
    assert wait["schema"]["maximum"] == 9
    assert spec()["paths"]["/v1/jobs/{id}"]["get"]["parameters"][0]["schema"]["maximum"] == 60


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
def test_job_schema_is_exactly_what_the_handlers_send(job: JobRecord) -> None:
    body = msgspec.json.decode(ModelResponse(job_model(job)).body)
    assert body == job_json(job)
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
    schemas = spec()["components"]["schemas"]
    properties = schemas["Job"]["properties"]
    assert properties["status"]["$ref"] == "#/components/schemas/JobStatus"
    assert sorted(schemas["JobStatus"]["enum"]) == sorted(s.value for s in JobStatus)
    assert properties["reason"]["anyOf"] == [
        {"$ref": "#/components/schemas/Reason"},
        {"type": "null"},
    ]
    assert sorted(schemas["Reason"]["enum"]) == sorted(r.value for r in Reason)


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
    response = error_handlers.error_response(error_class("try again"))
    assert response.status_code == error_class.status
    body = msgspec.json.decode(response.body)
    assert body == {"error": {"code": error_class.code, "message": "try again"}}
    schema_validator("Error").validate(body)
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
    app.state.api_description = service_api.ApiDescription.build(SETTINGS)
    with TestClient(app) as client:
        document = client.get("/openapi.json")
        page = client.get("/docs")
    assert document.status_code == 200
    assert document.json() == spec()
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == docs_html()


def test_worker_schema_is_exactly_what_the_handler_sends() -> None:
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
    assert schema["properties"]["state"] == {"$ref": "#/components/schemas/WorkerState"}
    states = spec()["components"]["schemas"]["WorkerState"]["enum"]
    assert sorted(states) == sorted(s.value for s in WorkerState)


def test_a_field_added_to_a_model_appears_in_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    class JobWithGpu(models.Job):
        gpu: Annotated[str | None, msgspec.Meta(description="The GPU it ran on.")]

    monkeypatch.setattr(models, "Job", JobWithGpu)
    document = openapi.spec(SETTINGS)
    validate(document, cls=OpenAPIV31SpecValidator)
    created = document["paths"]["/v1/jobs"]["post"]["responses"]["201"]["content"]
    assert created["application/json"]["schema"] == {"$ref": "#/components/schemas/JobWithGpu"}
    schema = document["components"]["schemas"]["JobWithGpu"]
    assert schema["properties"]["gpu"]["description"] == "The GPU it ran on."
    assert "gpu" in schema["required"]
    assert "gpu" not in spec()["components"]["schemas"]["Job"]["properties"]


def test_every_body_schema_is_generated_from_a_model() -> None:
    """Objects in the paths come only as $refs to components, which msgspec generated."""
    document = spec()
    generated = msgspec.json.schema_components(
        [getattr(models, name) for name in document["components"]["schemas"]],
        ref_template="#/components/schemas/{name}",
    )[1]
    assert set(generated) == set(document["components"]["schemas"])
    for name, schema in generated.items():
        served = {k: v for k, v in document["components"]["schemas"][name].items()}
        served.pop("examples", None)
        assert served == schema, name

    def objects(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert "multipart/form-data" in where, f"hand-written object schema at {where}"
            for key, value in node.items():
                objects(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                objects(item, f"{where}/{index}")

    objects(document["paths"], "paths")
    objects(document["webhooks"], "webhooks")


def _app_with(route: Route, tokens: dict[str, str]) -> Starlette:
    return Starlette(
        routes=[route],
        middleware=[Middleware(auth.BearerAuthMiddleware, tokens=tokens)],
        exception_handlers=error_handlers.handlers,
    )


def test_a_missing_token_is_the_error_trees_401() -> None:
    app = _app_with(Route("/v1/jobs", lambda request: PlainTextResponse("ok")), {"t0k": "alice"})
    expected = error_handlers.error_response(errors.Unauthorized("x"))
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic t0k"}):
            response = client.get("/v1/jobs", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["content-type"] == expected.headers["content-type"]
            error = response.json()["error"]
            assert error["code"] == "unauthorized"
            assert "Authorization: Bearer <token>" in error["message"]
            schema_validator("Error").validate(response.json())
        assert client.get("/v1/jobs", headers={"Authorization": "Bearer t0k"}).text == "ok"


def test_a_down_database_is_the_error_trees_503() -> None:
    def down(request: Request) -> Response:
        raise DatabaseUnavailable("connection refused")

    with TestClient(_app_with(Route("/v1/jobs", down), {})) as client:
        response = client.get("/v1/jobs")
    assert response.status_code == errors.Unavailable.status == 503
    assert response.headers["retry-after"] == errors.Unavailable.headers["Retry-After"]
    assert response.json()["error"]["code"] == errors.Unavailable.code
    schema_validator("Error").validate(response.json())


def test_readiness_reports_a_down_dependency_with_the_error_trees_detail() -> None:
    body = models.Readiness(
        checks=models.Checks(postgres="down", kafka="up"),
        seconds=0.5,
        error=error_handlers.detail(errors.Unavailable("postgres not reachable")),
    )
    encoded = msgspec.json.decode(ModelResponse(body).body)
    assert encoded["error"] == {"code": "unavailable", "message": "postgres not reachable"}
    assert "status" not in encoded
    schema_validator("Readiness").validate(encoded)
