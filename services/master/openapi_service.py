"""The workers registry, resubmission, the service endpoints and the webhook in the OpenAPI
document."""

from __future__ import annotations

from dccf import settings
from services.master import models
from services.master.openapi_parts import (
    NOT_FOUND,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    job_id_param,
    job_response,
    json_body,
)


def registry_paths(config: settings.Settings) -> Json:
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
                    "200": {"description": "The workers.", "content": json_body(models.WorkerList)},
                    "401": UNAUTHORIZED,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/v1/jobs/{id}/resubmit": {
            "parameters": [job_id_param("The job to run again.")],
            "post": {
                "operationId": "resubmitJob",
                "tags": ["jobs"],
                "summary": "Run a job again",
                "description": "Creates a new job with the same build context, name, limits, "
                "build args and callback URL, whatever the first job's status.",
                "responses": {
                    "201": job_response("The new job was created.", location=True),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            },
        },
    }


def service_paths() -> Json:
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
                        "content": json_body(models.Health),
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
                    "200": {"description": "Ready.", "content": json_body(models.Readiness)},
                    "503": {
                        "description": "A dependency is down; `error.message` names it.",
                        "content": json_body(models.Readiness),
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
                    "200": {
                        "description": "The document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": UNAUTHORIZED,
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
                    "401": UNAUTHORIZED,
                },
            }
        },
    }


def webhooks() -> Json:
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
                "requestBody": {"required": True, "content": json_body(models.WebhookEvent)},
                "responses": {
                    "2XX": {"description": "Delivered; any other answer is retried."},
                },
            }
        }
    }
