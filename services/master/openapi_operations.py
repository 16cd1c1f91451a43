"""The v1 job operations of the OpenAPI document."""

from __future__ import annotations

from dccf import settings
from dccf.job_records import Order
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobStatus, LogStream
from services.master import models
from services.master.openapi_form import job_form_schema
from services.master.openapi_parts import (
    MIB,
    NOT_FOUND,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    error,
    job_id_param,
    job_response,
    json_body,
)


def jobs_paths(config: settings.Settings) -> Json:
    limits = config.limits
    cap = limits.max_upload_bytes // MIB
    too_large = error(
        f"The body is over the upload cap ({cap} MiB here) or a part over its own cap; "
        "nothing is stored."
    )
    wrong_type = error("The body is not `multipart/form-data`.")
    return {
        "/v1/jobs": {
            "post": {
                "operationId": "submitJob",
                "tags": ["jobs"],
                "summary": "Submit a job",
                "description": "Uploads a Dockerfile and its build context. The job is durably "
                "stored before the answer; if Kafka is down at that moment the job is still "
                "accepted and is queued once Kafka is back.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "The same key from the same principal within 24 h "
                        "returns the first job with 200 instead of creating another; the "
                        "repeated request's body is not compared.",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": job_form_schema(limits),
                            "encoding": {
                                "files": {"contentType": "application/octet-stream"},
                                "context": {
                                    "contentType": "application/x-tar, application/gzip, "
                                    "application/octet-stream"
                                },
                            },
                        }
                    },
                },
                "responses": {
                    "201": job_response("The job was created.", location=True),
                    "200": job_response(
                        "A repeated `Idempotency-Key`: the job it created first.", location=True
                    ),
                    "400": error("A part breaks one of the rules above."),
                    "401": UNAUTHORIZED,
                    "413": too_large,
                    "415": wrong_type,
                    "503": UNAVAILABLE,
                },
            },
            "get": {
                "operationId": "listJobs",
                "tags": ["jobs"],
                "summary": "List jobs",
                "description": "The caller's jobs, one page at a time: newest first, or with "
                "`order=priority` highest priority first (newest first within a priority).",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "description": "Only jobs with this status.",
                        "schema": {"type": "string", "enum": [s.value for s in JobStatus]},
                    },
                    {
                        "name": "priority",
                        "in": "query",
                        "description": "Only jobs with this priority.",
                        "schema": {
                            "type": "integer",
                            "minimum": MIN_PRIORITY,
                            "maximum": MAX_PRIORITY,
                        },
                    },
                    {
                        "name": "order",
                        "in": "query",
                        "description": "`newest` (by id, descending) or `priority`.",
                        "schema": {
                            "type": "string",
                            "enum": [o.value for o in Order],
                            "default": Order.NEWEST.value,
                        },
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "Page size; out of range is a 400.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "description": "The opaque `next` cursor of the previous page (of "
                        "the same `order`), as given.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "One page of jobs.",
                        "content": json_body(models.JobPage),
                    },
                    "400": error("`limit`, `status`, `priority`, `order` or `before` is invalid."),
                    "401": UNAUTHORIZED,
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}": {
            "parameters": [job_id_param()],
            "get": {
                "operationId": "getJob",
                "tags": ["jobs"],
                "summary": "Read a job",
                "description": "With `wait`, a long poll: answers as soon as the job is terminal, "
                "or after `wait` seconds with the job as it is then.",
                "parameters": [
                    {
                        "name": "wait",
                        "in": "query",
                        "description": "Seconds to wait for a terminal status; out of range is a "
                        "400.",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": config.master.max_wait_seconds,
                            "default": 0,
                        },
                    }
                ],
                "responses": {
                    "200": job_response("The job."),
                    "400": error("`wait` is out of range."),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            },
            "delete": {
                "operationId": "deleteJob",
                "tags": ["jobs"],
                "summary": "Delete a job",
                "description": "Removes a terminal job with its files and logs.",
                "responses": {
                    "204": {"description": "Deleted."},
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "409": error("The job is not terminal yet; cancel it first."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/cancel": {
            "parameters": [job_id_param()],
            "post": {
                "operationId": "cancelJob",
                "tags": ["jobs"],
                "summary": "Cancel a job",
                "description": "A queued job is cancelled at once; a running one is stopped by "
                "its worker within a few seconds and ends `cancelled`. No request body.",
                "responses": {
                    "202": job_response("Cancellation accepted; the job as it is now."),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "409": error("The job is already terminal."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/logs": {
            "parameters": [job_id_param()],
            "get": {
                "operationId": "getJobLogs",
                "tags": ["jobs"],
                "summary": "Read a job's logs",
                "description": "One stream, or without `stream` all three, each under a header "
                "line `===== <stream> =====`. Each stream is capped at "
                f"{limits.log_cap_bytes // 1024} KiB here (`DCCF_LOG_CAP_KB`); a capped log "
                "ends with a line saying how many bytes were dropped.",
                "parameters": [
                    {
                        "name": "stream",
                        "in": "query",
                        "description": "Which log; all three when absent.",
                        "schema": {"type": "string", "enum": [s.value for s in LogStream]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The log text (UTF-8; undecodable bytes replaced).",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "400": error("`stream` is not one of the three."),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs": {
            "parameters": [job_id_param()],
            "get": {
                "operationId": "listJobOutputs",
                "tags": ["jobs"],
                "summary": "List a job's output files",
                "description": "Every job starts with an empty, writable `/output` directory; "
                "these are the files it wrote there.",
                "responses": {
                    "200": {"description": "The files.", "content": json_body(models.OutputList)},
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs/{path}": {
            "parameters": [
                job_id_param(),
                {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "description": "The file's `path` from the output list; it may contain `/` "
                    "(sent as is, not percent-encoded).",
                    "schema": {"type": "string"},
                },
            ],
            "get": {
                "operationId": "getJobOutput",
                "tags": ["jobs"],
                "summary": "Download one output file",
                "description": "The raw bytes, streamed; the media type is guessed from the name.",
                "responses": {
                    "200": {
                        "description": "The file's bytes.",
                        "headers": {
                            "Content-Length": {"schema": {"type": "integer", "minimum": 0}},
                            "X-Checksum-SHA256": {
                                "description": "The file's SHA-256, hex.",
                                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            },
                        },
                        "content": {"*/*": {"schema": {}}},
                    },
                    "401": UNAUTHORIZED,
                    "404": error("No such job, or the job has no such output file."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs.tar.gz": {
            "parameters": [job_id_param()],
            "get": {
                "operationId": "getJobOutputArchive",
                "tags": ["jobs"],
                "summary": "Download every output file as one tar.gz",
                "description": "Streamed; member names are relative to `/output`, with no "
                "leading folder. A job without outputs gives an empty archive.",
                "responses": {
                    "200": {
                        "description": "The archive.",
                        "headers": {
                            "Content-Disposition": {
                                "description": '`attachment; filename="job-<id>-outputs.tar.gz"`',
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {"application/gzip": {"schema": {}}},
                    },
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            },
        },
        "/v1/demo": {
            "post": {
                "operationId": "submitDemo",
                "tags": ["jobs"],
                "summary": "Run the demo job",
                "description": "Submits the bundled demo job (`images/demo/`) with the default "
                "limits. No request body.",
                "responses": {
                    "201": job_response("The demo job was created.", location=True),
                    "401": UNAUTHORIZED,
                    "503": UNAVAILABLE,
                },
            },
        },
    }
