"""The OpenAPI 3.1 description of API.md (served at /openapi.json; /docs renders it).

Assembled from two halves: the operations (openapi_operations.py, openapi_legacy.py,
openapi_service.py: paths, parameters, status codes, written by hand) and the schemas of every
body, which msgspec generates from the models the handlers encode with (models.py). An
operation names its body's model with `SchemaOf`; `spec` swaps each marker for the generated
schema and files the models' schemas under `components/schemas`. The ranges the document quotes
come from the `Settings` handed in, so /docs tells a user what this deployment accepts.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from dccf import settings
from dccf.jobs import JobStatus, Network
from services.master import models
from services.master.openapi_legacy import legacy_paths
from services.master.openapi_operations import jobs_paths
from services.master.openapi_parts import Json, SchemaOf, error
from services.master.openapi_service import registry_paths, service_paths, webhooks

_REF_TEMPLATE = "#/components/schemas/{name}"

_DESCRIPTION = """\
Runs Dockerfile builds as jobs on a cluster. JSON bodies are UTF-8; times are RFC 3339 UTC \
strings; job ids are positive integers.

Every error is `{"error": {"code", "message"}}` with its status: 400 invalid input, 401 missing \
or bad token, 404 unknown job (also a malformed id), 405 a method the path does not take (with \
an `Allow` header), 409 conflict with the job's state, 413 upload too large, 415 wrong content \
type, 503 Postgres is down."""

_AUTH = (
    "When the server has API tokens (`DCCF_API_TOKENS`), every endpoint but `/healthz`, "
    "`/readyz` and `/metrics` needs `Authorization: Bearer <token>` (else 401 with "
    "`WWW-Authenticate: Bearer`). Each token names a principal, who sees and acts on its own "
    "jobs only (others' answer 404). With no tokens configured the API is open."
)


_EXAMPLE_TIME = datetime(2026, 11, 27, 19, 10, 27, tzinfo=UTC)
# API.md's job object, as the handlers would send it.
_EXAMPLE_JOB = models.Job(
    id=42,
    name="demo",
    status=JobStatus.SUCCEEDED,
    priority=0,
    reason=None,
    exit_code=0,
    attempt=1,
    worker="dccf-worker-7c9f-abcde",
    created_at=_EXAMPLE_TIME,
    started_at=_EXAMPLE_TIME.replace(second=28),
    finished_at=_EXAMPLE_TIME.replace(second=41),
    limits=models.Limits(timeout_seconds=3600, memory_mb=512, cpus=1.0, network=Network.NONE),
    callback_url=None,
    links=models.Links(
        self_="/v1/jobs/42",
        logs="/v1/jobs/42/logs",
        outputs="/v1/jobs/42/outputs",
        archive="/v1/jobs/42/outputs.tar.gz",
    ),
)


def _markers(node: Any) -> Iterator[SchemaOf]:
    if isinstance(node, SchemaOf):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _markers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _markers(item)


def _replaced(node: Any, schemas: Iterator[Json]) -> Any:
    """`node` with each marker swapped for the next schema, in the order `_markers` walks."""
    if isinstance(node, SchemaOf):
        return next(schemas)
    if isinstance(node, dict):
        return {key: _replaced(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [_replaced(item, schemas) for item in node]
    return node


def with_generated_schemas(document: Json) -> Json:
    """The document with every `SchemaOf` generated and the models under components/schemas."""
    models_used = [marker.model for marker in _markers(document)]
    schemas, components = msgspec.json.schema_components(models_used, ref_template=_REF_TEMPLATE)
    result: Json = _replaced(document, iter(schemas))
    result.setdefault("components", {})["schemas"] = components
    return result


def spec(config: settings.Settings) -> Json:
    """The document served at /openapi.json for a server with these settings."""
    limits = config.limits
    document = with_generated_schemas(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "DCCF master API",
                "version": importlib.metadata.version("dccf"),
                "summary": "Submit Dockerfile jobs, follow them, fetch their logs and outputs.",
                "description": _DESCRIPTION,
                "license": {"name": "MIT", "identifier": "MIT"},
            },
            "tags": [
                {"name": "jobs", "description": "The v1 job API."},
                {"name": "workers", "description": "The workers registry."},
                {"name": "legacy", "description": "The original DCCF's endpoints, kept working."},
                {"name": "service", "description": "Probes, metrics and this description."},
            ],
            "security": [{"bearerAuth": []}],
            "paths": {
                **jobs_paths(config),
                **registry_paths(config),
                **legacy_paths(limits),
                **service_paths(),
            },
            "webhooks": webhooks(),
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": _AUTH}
                },
                "responses": {
                    "MethodNotAllowed": error(
                        "The path does not take this method; `Allow` lists the ones it takes.",
                        {"Allow": {"schema": {"type": "string"}}},
                    )
                },
            },
        }
    )
    job_schema = document["components"]["schemas"][models.Job.__name__]
    job_schema["examples"] = [msgspec.to_builtins(_EXAMPLE_JOB)]
    return document
