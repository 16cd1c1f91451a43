"""The OpenAPI 3.1 description of API.md (served at /openapi.json; /docs renders it).

The document states the choices API.md leaves open (cursor format, caps, error codes), and
the ranges it quotes come from this server's settings and from the validators' own constants,
so /docs tells a user what this deployment accepts. It is built once per process.
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

from dccf import settings
from dccf.job_records import Order
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobStatus, LogStream, Network, Reason
from services.master import job_form

Json = dict[str, Any]

_MIB = 1024 * 1024
_MAX_JOB_ID = 2**63 - 1


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _nullable(type_name: str, **extra: Any) -> Json:
    return {"type": [type_name, "null"], **extra}


def _error(description: str, headers: Json | None = None) -> Json:
    response: Json = {"description": description, "content": _json(_ref("Error"))}
    if headers:
        response["headers"] = headers
    return response


_UNAUTHORIZED = _error(
    "Missing or unknown bearer token (only when the server has API tokens configured).",
    {
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "schema": {"type": "string", "const": "Bearer"},
        }
    },
)
_UNAVAILABLE = _error(
    "Postgres is unavailable; retry after the `Retry-After` seconds.",
    {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
    },
)
_NOT_FOUND = _error(
    "No such job: unknown, malformed (not a positive integer) or another principal's."
)


def _job_response(description: str, location: bool = False) -> Json:
    response: Json = {"description": description, "content": _json(_ref("Job"))}
    if location:
        response["headers"] = {
            "Location": {
                "description": "The new job's URL, `/v1/jobs/{id}`.",
                "schema": {"type": "string", "format": "uri-reference"},
            }
        }
    return response


def _all_required(schema: Json) -> Json:
    """Every key is always present; a missing value is an explicit null."""
    return {**schema, "required": list(schema["properties"])}


_PRIORITY: Json = {
    "type": "integer",
    "minimum": MIN_PRIORITY,
    "maximum": MAX_PRIORITY,
    "description": "Which queued job a free worker takes first: the highest priority; within a "
    "priority the principal whose job was started longest ago (round-robin between principals "
    "with queued jobs, so one principal's many jobs cannot hold back another's); within a "
    "principal the oldest job.",
}


def _schemas() -> Json:
    status_enum = [s.value for s in JobStatus]
    reason_enum = [r.value for r in Reason]
    return {
        "Job": _all_required(
            {
                "type": "object",
                "description": "A job as the API reports it. Clients should ignore keys they "
                "do not know, so that later versions can add some.",
                "properties": {
                    "id": {"type": "integer", "minimum": 1, "maximum": _MAX_JOB_ID},
                    "name": _nullable("string", maxLength=job_form.MAX_NAME_CHARS),
                    "status": {
                        "type": "string",
                        "enum": status_enum,
                        "description": "`queued` → `running` → `succeeded` | `failed` | "
                        "`cancelled`. A job whose build or run fails is never `succeeded`.",
                    },
                    "priority": _PRIORITY,
                    "reason": {
                        "type": ["string", "null"],
                        "enum": [*reason_enum, None],
                        "description": "Null unless the job is `failed` or `cancelled`. "
                        "`worker_lost`: the attempts ran out after worker crashes.",
                    },
                    "exit_code": _nullable(
                        "integer", description="The container's exit code, once it has run."
                    ),
                    "attempt": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "How many times a worker has started the job (0 while it "
                        "waits for its first start).",
                    },
                    "worker": _nullable(
                        "string", description="The worker that ran (or runs) the latest attempt."
                    ),
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": _nullable("string", format="date-time"),
                    "finished_at": _nullable("string", format="date-time"),
                    "limits": _ref("Limits"),
                    "callback_url": _nullable("string", format="uri"),
                    "links": _ref("Links"),
                },
                "examples": [
                    {
                        "id": 42,
                        "name": "demo",
                        "status": "succeeded",
                        "priority": 0,
                        "reason": None,
                        "exit_code": 0,
                        "attempt": 1,
                        "worker": "dccf-worker-7c9f-abcde",
                        "created_at": "2026-11-27T19:10:27Z",
                        "started_at": "2026-11-27T19:10:28Z",
                        "finished_at": "2026-11-27T19:10:41Z",
                        "limits": {
                            "timeout_seconds": 3600,
                            "memory_mb": 512,
                            "cpus": 1.0,
                            "network": "none",
                        },
                        "callback_url": None,
                        "links": {
                            "self": "/v1/jobs/42",
                            "logs": "/v1/jobs/42/logs",
                            "outputs": "/v1/jobs/42/outputs",
                            "archive": "/v1/jobs/42/outputs.tar.gz",
                        },
                    }
                ],
            }
        ),
        "Limits": {
            "type": "object",
            "description": "The limits the job runs under, as granted when it was accepted.",
            "required": ["timeout_seconds", "memory_mb", "cpus", "network"],
            "properties": {
                "timeout_seconds": {"type": "integer", "minimum": 1},
                "memory_mb": {"type": "integer", "minimum": job_form.MIN_MEMORY_MB},
                "cpus": {"type": "number", "minimum": job_form.MIN_CPUS},
                "network": {"type": "string", "enum": [n.value for n in Network]},
            },
        },
        "Links": {
            "type": "object",
            "description": "Where to read the job, its logs and its outputs.",
            "required": ["self", "logs", "outputs", "archive"],
            "properties": {
                name: {"type": "string", "format": "uri-reference"}
                for name in ("self", "logs", "outputs", "archive")
            },
        },
        "JobList": {
            "type": "object",
            "required": ["jobs", "next"],
            "properties": {
                "jobs": {"type": "array", "items": _ref("Job"), "description": "Newest first."},
                "next": {
                    "type": ["string", "null"],
                    "description": "An opaque cursor: pass it as `before` to get the next page. "
                    "Null when no more jobs can follow; a cursor may still lead to an empty page.",
                },
            },
        },
        "OutputFile": {
            "type": "object",
            "required": ["path", "size", "sha256"],
            "properties": {
                "path": {
                    "type": "string",
                    "description": "Relative to the job's `/output` directory, e.g. `a/b.txt`.",
                },
                "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "OutputList": {
            "type": "object",
            "required": ["files"],
            "properties": {"files": {"type": "array", "items": _ref("OutputFile")}},
        },
        "Error": {
            "type": "object",
            "description": "Every error answer. `code` is stable and machine-readable "
            "(e.g. `invalid_field`, `invalid_parameter`, `unknown_field`, `unauthorized`, "
            "`not_found`, `conflict`, `method_not_allowed`, `payload_too_large`, "
            "`unsupported_media_type`, `unavailable`); `message` says what to do.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "WebhookEvent": {
            "type": "object",
            "required": ["event", "job"],
            "properties": {
                "event": {"type": "string", "const": "job.status"},
                "job": _ref("Job"),
            },
        },
        "LegacyFile": {
            "type": "object",
            "description": "A file of the original DCCF's result list.",
            "required": ["fileId", "fileType", "name", "fileData"],
            "properties": {
                "fileId": {"type": "integer"},
                "fileType": {
                    "type": "string",
                    "enum": ["LOG", "RETURN"],
                    "description": "`LOG`: a log stream (`build.log`, `stdout.log`, "
                    "`stderr.log`); `RETURN`: a file the job wrote under `/output`.",
                },
                "name": {"type": "string"},
                "fileData": {"type": "string", "contentEncoding": "base64"},
            },
        },
        "Readiness": {
            "type": "object",
            "required": ["checks", "seconds"],
            "properties": {
                "status": {"type": "string", "const": "ready"},
                "checks": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string", "enum": ["up", "down"]}
                        for name in ("postgres", "kafka")
                    },
                },
                "seconds": {"type": "number", "description": "How long the checks took."},
                "error": {
                    "$ref": "#/components/schemas/Error/properties/error",
                    "description": "Present when a dependency is down; the message names it.",
                },
            },
        },
    }


def _job_id_param(description: str = "The job's id.") -> Json:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description + " A malformed id answers 404, like an unknown one.",
        "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_JOB_ID},
    }


def _legacy_job_id() -> Json:
    return {
        "name": "jobId",
        "in": "query",
        "required": True,
        "description": "The job's id. Missing: 400; malformed or unknown: 404.",
        "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_JOB_ID},
    }


_FILE = {"type": "string", "contentMediaType": "application/octet-stream"}


def _job_form(limits: settings.Limits) -> Json:
    """The text parts' rules quote the validator's constants and this server's limits."""
    cap = limits.max_upload_bytes // _MIB
    path_rule = (
        "must be relative; no `..` segment, no absolute path, no NUL or control characters, "
        "no duplicate path"
    )
    bridge = "allowed" if limits.allow_bridge_network else "refused (400 `network_not_allowed`)"
    private = "allowed" if limits.allow_private_callbacks else "refused (400 `invalid_field`)"
    return {
        "type": "object",
        "description": f"The whole body is capped at {cap} MiB on this server "
        "(`DCCF_MAX_UPLOAD_MB`): past it, 413 and nothing is stored. An unknown part, or a text "
        "part sent twice, is a 400.",
        "properties": {
            "dockerfile": {
                **_FILE,
                "description": "The Dockerfile, at most "
                f"{limits.max_dockerfile_bytes // _MIB} MiB. Required unless `context` holds a "
                "`Dockerfile` at its root.",
            },
            "files": {
                "type": "array",
                "items": _FILE,
                "description": "Repeatable. Each part's filename is its path inside the build "
                f"context and may contain `/`; it {path_rule}, and no part may clash with the "
                "`Dockerfile`.",
            },
            "context": {
                **_FILE,
                "description": "Optional `.tar` or `.tar.gz` build context; its member names "
                "follow the same path rules; symlinks, hard links and device nodes are rejected.",
            },
            "name": {
                "type": "string",
                "maxLength": job_form.MAX_NAME_CHARS,
                "description": f"Optional, at most {job_form.MAX_NAME_CHARS} characters, no "
                "control characters.",
            },
            "priority": {
                "type": "string",
                "pattern": "^[-+]?[0-9]{1,18}$",
                "description": f"Whole number, {MIN_PRIORITY} .. {MAX_PRIORITY}; default 0. "
                + _PRIORITY["description"],
            },
            "timeout_seconds": {
                "type": "string",
                "pattern": "^[0-9]{1,18}$",
                "description": f"Whole number, 1 .. {limits.max_timeout_seconds} "
                f"(`DCCF_MAX_TIMEOUT_SECONDS`); default {limits.default_timeout_seconds}.",
            },
            "memory_mb": {
                "type": "string",
                "pattern": "^[0-9]{1,18}$",
                "description": f"Whole number, {job_form.MIN_MEMORY_MB} .. "
                f"{limits.max_memory_mb} (`DCCF_MAX_MEMORY_MB`); default "
                f"{limits.default_memory_mb}.",
            },
            "cpus": {
                "type": "string",
                "pattern": r"^([0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9})$",
                "description": f"Decimal, {job_form.MIN_CPUS:g} .. {limits.max_cpus:g} "
                f"(`DCCF_MAX_CPUS`); default {limits.default_cpus:g}.",
            },
            "network": {
                "type": "string",
                "enum": [n.value for n in Network],
                "default": Network.NONE.value,
                "description": "The network of the run (not of the build). `bridge` is "
                f"{bridge} on this server (`DCCF_ALLOW_BRIDGE_NETWORK`).",
            },
            "callback_url": {
                "type": "string",
                "format": "uri",
                "pattern": "^https?://",
                "maxLength": job_form.MAX_CALLBACK_URL_CHARS,
                "description": "Optional http:// or https:// URL with a host; every status "
                "change after `queued` is POSTed there (see the `job.status` webhook). A host "
                "that is or resolves to a loopback, private, link-local or other non-public "
                f"address is {private} on this server (`DCCF_ALLOW_PRIVATE_CALLBACKS`); a name "
                "is checked again on every delivery, against the address it resolves to then.",
            },
            "build_args": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {
                    "type": "object",
                    "maxProperties": job_form.MAX_BUILD_ARGS,
                    "propertyNames": {
                        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                        "maxLength": job_form.MAX_BUILD_ARG_NAME_CHARS,
                    },
                    "additionalProperties": {"type": "string"},
                },
                "description": "Optional JSON object of string to string, e.g. "
                f'`{{"VERSION": "1.2"}}`; at most {job_form.MAX_BUILD_ARGS} entries and '
                f"{job_form.MAX_BUILD_ARGS_BYTES // 1024} KiB; names are shell variable names.",
            },
        },
    }


def _jobs_paths(config: settings.Settings) -> Json:
    limits = config.limits
    cap = limits.max_upload_bytes // _MIB
    too_large = _error(
        f"The body is over the upload cap ({cap} MiB here) or a part over its own cap; "
        "nothing is stored."
    )
    wrong_type = _error("The body is not `multipart/form-data`.")
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
                            "schema": _job_form(limits),
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
                    "201": _job_response("The job was created.", location=True),
                    "200": _job_response(
                        "A repeated `Idempotency-Key`: the job it created first.", location=True
                    ),
                    "400": _error("A part breaks one of the rules above."),
                    "401": _UNAUTHORIZED,
                    "413": too_large,
                    "415": wrong_type,
                    "503": _UNAVAILABLE,
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
                    "200": {"description": "One page of jobs.", "content": _json(_ref("JobList"))},
                    "400": _error("`limit`, `status`, `priority`, `order` or `before` is invalid."),
                    "401": _UNAUTHORIZED,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}": {
            "parameters": [_job_id_param()],
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
                    "200": _job_response("The job."),
                    "400": _error("`wait` is out of range."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
                },
            },
            "delete": {
                "operationId": "deleteJob",
                "tags": ["jobs"],
                "summary": "Delete a job",
                "description": "Removes a terminal job with its files and logs.",
                "responses": {
                    "204": {"description": "Deleted."},
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "409": _error("The job is not terminal yet; cancel it first."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/cancel": {
            "parameters": [_job_id_param()],
            "post": {
                "operationId": "cancelJob",
                "tags": ["jobs"],
                "summary": "Cancel a job",
                "description": "A queued job is cancelled at once; a running one is stopped by "
                "its worker within a few seconds and ends `cancelled`. No request body.",
                "responses": {
                    "202": _job_response("Cancellation accepted; the job as it is now."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "409": _error("The job is already terminal."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/logs": {
            "parameters": [_job_id_param()],
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
                    "400": _error("`stream` is not one of the three."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs": {
            "parameters": [_job_id_param()],
            "get": {
                "operationId": "listJobOutputs",
                "tags": ["jobs"],
                "summary": "List a job's output files",
                "description": "Every job starts with an empty, writable `/output` directory; "
                "these are the files it wrote there.",
                "responses": {
                    "200": {"description": "The files.", "content": _json(_ref("OutputList"))},
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs/{path}": {
            "parameters": [
                _job_id_param(),
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
                    "401": _UNAUTHORIZED,
                    "404": _error("No such job, or the job has no such output file."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/v1/jobs/{id}/outputs.tar.gz": {
            "parameters": [_job_id_param()],
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
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
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
                    "201": _job_response("The demo job was created.", location=True),
                    "401": _UNAUTHORIZED,
                    "503": _UNAVAILABLE,
                },
            },
        },
    }


def _registry_paths(config: settings.Settings) -> Json:
    """The workers registry and resubmission (dccf/workers.py, resubmit_api.py)."""
    return {
        "/v1/workers": {
            "get": {
                "operationId": "listWorkers",
                "tags": ["workers"],
                "summary": "List workers",
                "description": "Every worker that has sent a heartbeat and was seen in the last "
                f"{config.master.worker_forget_hours} h (`DCCF_WORKER_FORGET_HOURS`), by id. A "
                "worker is `lost` when its last heartbeat is older than `lost_after_seconds` "
                "(`DCCF_WORKER_LOST_SECONDS`), `stopped` after a clean exit. `jobs` lists only "
                "the caller's own running jobs on that worker.",
                "responses": {
                    "200": {"description": "The workers.", "content": _json(_ref("WorkerList"))},
                    "401": _UNAUTHORIZED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/v1/jobs/{id}/resubmit": {
            "parameters": [_job_id_param("The job to run again.")],
            "post": {
                "operationId": "resubmitJob",
                "tags": ["jobs"],
                "summary": "Run a job again",
                "description": "Creates a new job with the same build context, name, limits, "
                "build args and callback URL, whatever the first job's status.",
                "responses": {
                    "201": _job_response("The new job was created.", location=True),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
                },
            },
        },
    }


def _registry_schemas() -> Json:
    return {
        "Worker": _all_required(
            {
                "type": "object",
                "description": "A worker as its heartbeats describe it.",
                "properties": {
                    "id": {"type": "string", "description": "`DCCF_WORKER_ID` (the pod name)."},
                    "state": {"type": "string", "enum": ["alive", "lost", "stopped"]},
                    "host": {"type": "string"},
                    "version": {"type": "string", "description": "The worker's DCCF version."},
                    "slots": {"type": "integer", "minimum": 1, "description": "Jobs at once."},
                    "jobs": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "The caller's running jobs on this worker.",
                    },
                    "started_at": {"type": "string", "format": "date-time"},
                    "last_seen_at": {"type": "string", "format": "date-time"},
                    "stopped_at": _nullable("string", format="date-time"),
                },
            }
        ),
        "WorkerList": {
            "type": "object",
            "required": ["workers", "lost_after_seconds"],
            "properties": {
                "workers": {"type": "array", "items": _ref("Worker")},
                "lost_after_seconds": {"type": "integer", "minimum": 1},
            },
        },
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
            "400": _error("`jobId` is missing."),
            "401": _UNAUTHORIZED,
            "404": _NOT_FOUND,
            "503": _UNAVAILABLE,
        },
    }


def _legacy_paths(limits: settings.Limits) -> Json:
    job_id = {"description": "The new job's id.", "content": _json({"type": "integer"})}
    status = _legacy_read(
        "legacyJobStatus",
        "Job status (original DCCF)",
        "`SUBMITTED` (queued), `PROCESSING` (running), `COMPLETE` (succeeded), `ERROR` (failed "
        "or cancelled). GET and POST answer alike.",
        {
            "description": "The status word as a JSON string.",
            "content": _json(
                {"type": "string", "enum": ["SUBMITTED", "PROCESSING", "COMPLETE", "ERROR"]}
            ),
        },
    )
    files = _legacy_read(
        "legacyResultingFiles",
        "Logs and output files (original DCCF)",
        "The logs as `LOG` files and the `/output` files as `RETURN` files, base64-encoded. "
        "GET and POST answer alike.",
        {
            "description": "The files.",
            "content": _json({"type": "array", "items": _ref("LegacyFile")}),
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
                                f"{limits.max_upload_bytes // _MIB} MiB like `POST /v1/jobs`.",
                                "required": ["dockerFile"],
                                "properties": {
                                    "dockerFile": {**_FILE, "description": "The Dockerfile (one)."},
                                    "taskFiles": {
                                        "type": "array",
                                        "items": _FILE,
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
                    "400": _error("A part breaks a rule."),
                    "401": _UNAUTHORIZED,
                    "413": _error("The body is over the upload cap; nothing is stored."),
                    "415": _error("The body is not `multipart/form-data`."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/submitDemo": {
            "post": {
                "operationId": "legacySubmitDemo",
                "tags": ["legacy"],
                "summary": "Run the demo job (original DCCF)",
                "description": "Like `POST /v1/demo`, answering with the id only.",
                "responses": {"200": job_id, "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
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


def _service_paths() -> Json:
    open_access: list[Json] = []
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["service"],
                "summary": "Liveness",
                "description": "200 while the process lives; checks nothing else. No token.",
                "security": open_access,
                "responses": {
                    "200": {
                        "description": "Alive.",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"type": "string", "const": "ok"}},
                            }
                        ),
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["service"],
                "summary": "Readiness",
                "description": "200 when Postgres and Kafka answer, else 503 naming what is "
                "down. No token.",
                "security": open_access,
                "responses": {
                    "200": {"description": "Ready.", "content": _json(_ref("Readiness"))},
                    "503": {
                        "description": "A dependency is down; `error.message` names it.",
                        "content": _json(_ref("Readiness")),
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["service"],
                "summary": "Prometheus metrics",
                "description": "The Prometheus text exposition format. No token.",
                "security": open_access,
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["service"],
                "summary": "This document",
                "description": "The OpenAPI 3.1 description of the API.",
                "responses": {
                    "200": {"description": "The document.", "content": _json({"type": "object"})},
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "tags": ["service"],
                "summary": "This document as a web page",
                "description": "Self-contained HTML rendered on the server; works offline.",
                "responses": {
                    "200": {
                        "description": "The page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "401": _UNAUTHORIZED,
                },
            }
        },
    }


def _webhooks() -> Json:
    return {
        "job.status": {
            "post": {
                "operationId": "jobStatusWebhook",
                "summary": "A job's status changed",
                "description": "Sent to the job's `callback_url` for every status change after "
                "the job was created: `running`, `succeeded`, `failed`, `cancelled`, and "
                "`queued` again when a worker was lost and the job waits for another attempt. "
                "`job` is the job as it was at that change, not at delivery. A non-2xx answer "
                "(redirects are not followed) or no answer within `DCCF_WEBHOOK_TIMEOUT_SECONDS` "
                "is retried with exponential back-off (`DCCF_WEBHOOK_BACKOFF_SECONDS` doubling "
                "up to `DCCF_WEBHOOK_BACKOFF_CAP_SECONDS`, with jitter) up to "
                "`DCCF_WEBHOOK_MAX_ATTEMPTS` attempts; then that event is given up and the "
                "job's next event follows. One job's events arrive in order: the next is sent "
                "only once the one before was answered with a 2xx or given up. Delivery is "
                "at-least-once, so deduplicate on `X-DCCF-Delivery`.",
                "security": [],
                "parameters": [
                    {
                        "name": "X-DCCF-Event",
                        "in": "header",
                        "required": True,
                        "description": "The event name.",
                        "schema": {"type": "string", "const": "job.status"},
                    },
                    {
                        "name": "X-DCCF-Delivery",
                        "in": "header",
                        "required": True,
                        "description": "Unique per event, and the same on every attempt "
                        "to deliver it: a receiver that sees an id again can drop the repeat.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "X-DCCF-Signature",
                        "in": "header",
                        "required": False,
                        "description": "`sha256=<hex HMAC-SHA256 of the raw body>` keyed with the "
                        "webhook secret; sent only when one is configured (`DCCF_WEBHOOK_SECRET`).",
                        "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                    },
                ],
                "requestBody": {"required": True, "content": _json(_ref("WebhookEvent"))},
                "responses": {
                    "2XX": {"description": "Delivered; any other answer is retried."},
                },
            }
        }
    }


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


@functools.cache
def spec() -> Json:
    """The document served at /openapi.json; callers must not modify it."""
    config = settings.load()
    limits = config.limits
    return {
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
            **_jobs_paths(config),
            **_registry_paths(config),
            **_legacy_paths(limits),
            **_service_paths(),
        },
        "webhooks": _webhooks(),
        "components": {
            "schemas": {**_schemas(), **_registry_schemas()},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": _AUTH,
                }
            },
            "responses": {
                "MethodNotAllowed": _error(
                    "The path does not take this method; `Allow` lists the ones it takes.",
                    {"Allow": {"schema": {"type": "string"}}},
                )
            },
        },
    }
