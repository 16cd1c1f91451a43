"""Building blocks the OpenAPI operations share: bodies named by their model, error answers,
the job id parameter.

A body's schema is written as `SchemaOf(model)`; openapi.py replaces every such marker with
the schema msgspec generates from the model, so no operation holds a hand-written body schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.master import errors, models

Json = dict[str, Any]

MIB = 1024 * 1024


@dataclass(frozen=True)
class SchemaOf:
    """Stands for the JSON Schema of `model` (a models.py type, or a list, enum or scalar)."""

    model: Any


def json_body(model: Any) -> Json:
    return {"application/json": {"schema": SchemaOf(model)}}


def error(description: str, headers: Json | None = None) -> Json:
    response: Json = {"description": description, "content": json_body(models.Error)}
    if headers:
        response["headers"] = headers
    return response


UNAUTHORIZED = error(
    "Missing or unknown bearer token (only when the server has API tokens configured).",
    {
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "schema": {"type": "string", "const": errors.Unauthorized.headers["WWW-Authenticate"]},
        }
    },
)
UNAVAILABLE = error(
    "Postgres is unavailable; retry after the `Retry-After` seconds.",
    {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
    },
)
NOT_FOUND = error(
    "No such job: unknown, malformed (not a positive integer) or another principal's."
)
FILE = {"type": "string", "contentMediaType": "application/octet-stream"}


def job_response(description: str, location: bool = False) -> Json:
    response: Json = {"description": description, "content": json_body(models.Job)}
    if location:
        response["headers"] = {
            "Location": {
                "description": "The new job's URL, `/v1/jobs/{id}`.",
                "schema": {"type": "string", "format": "uri-reference"},
            }
        }
    return response


def job_id_param(description: str = "The job's id.") -> Json:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description + " A malformed id answers 404, like an unknown one.",
        "schema": SchemaOf(models.JobId),
    }
