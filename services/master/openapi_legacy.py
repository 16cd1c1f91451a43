"""The original DCCF's endpoints in the OpenAPI document."""

from __future__ import annotations

from dccf import settings
from services.master import models
from services.master.openapi_parts import (
    FILE,
    MIB,
    NOT_FOUND,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    SchemaOf,
    error,
    json_body,
)


def _legacy_job_id() -> Json:
    return {
        "name": "jobId",
        "in": "query",
        "required": True,
        "description": "The job's id. Missing: 400; malformed or unknown: 404.",
        "schema": SchemaOf(models.JobId),
    }


def _legacy_read(operation_id: str, summary: str, description: str, ok: Json) -> Json:
    return {
        "operationId": operation_id,
        "tags": ["legacy"],
        "summary": summary,
        "description": description,
        "parameters": [_legacy_job_id()],
        "responses": {
            "200": ok,
            "400": error("`jobId` is missing."),
            "401": UNAUTHORIZED,
            "404": NOT_FOUND,
            "503": UNAVAILABLE,
        },
    }


def legacy_paths(limits: settings.Limits) -> Json:
    job_id = {"description": "The new job's id.", "content": json_body(models.JobId)}
    status = _legacy_read(
        "legacyJobStatus",
        "Job status (original DCCF)",
        "`SUBMITTED` (queued), `PROCESSING` (running), `COMPLETE` (succeeded), `ERROR` (failed "
        "or cancelled). GET and POST answer alike.",
        {
            "description": "The status word as a JSON string.",
            "content": json_body(models.LegacyStatus),
        },
    )
    files = _legacy_read(
        "legacyResultingFiles",
        "Logs and output files (original DCCF)",
        "The logs as `LOG` files and the `/output` files as `RETURN` files, base64-encoded. "
        "GET and POST answer alike.",
        {
            "description": "The files.",
            "content": json_body(list[models.LegacyFile]),
        },
    )
    return {
        "/submit": {
            "post": {
                "operationId": "legacySubmit",
                "tags": ["legacy"],
                "summary": "Submit a job (original DCCF)",
                "description": "Task files keep their own file names. The text parts of "
                "`POST /v1/jobs` are accepted too, with the same rules and defaults.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "description": "Capped at "
                                f"{limits.max_upload_bytes // MIB} MiB like `POST /v1/jobs`.",
                                "required": ["dockerFile"],
                                "properties": {
                                    "dockerFile": {**FILE, "description": "The Dockerfile (one)."},
                                    "taskFiles": {
                                        "type": "array",
                                        "items": FILE,
                                        "description": "0..n files; each filename is its path "
                                        "in the build context, with the path rules of `files`.",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": job_id,
                    "400": error("A part breaks a rule."),
                    "401": UNAUTHORIZED,
                    "413": error("The body is over the upload cap; nothing is stored."),
                    "415": error("The body is not `multipart/form-data`."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/submitDemo": {
            "post": {
                "operationId": "legacySubmitDemo",
                "tags": ["legacy"],
                "summary": "Run the demo job (original DCCF)",
                "description": "Like `POST /v1/demo`, answering with the id only.",
                "responses": {"200": job_id, "401": UNAUTHORIZED, "503": UNAVAILABLE},
            }
        },
        "/getJobStatus": {
            "get": status,
            "post": {**status, "operationId": "legacyJobStatusPost"},
        },
        "/getResultingFiles": {
            "get": files,
            "post": {**files, "operationId": "legacyResultingFilesPost"},
        },
    }
