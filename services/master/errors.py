"""The master's failure modes, each mapped to one HTTP status in one place.

ApiError                      {"error": {"code", "message"}}
├── InvalidInput        400   a field, file name or archive breaks an API.md rule
├── Unauthorized        401   missing or unknown bearer token
├── NotFound            404   unknown job, malformed id, a job of another principal
├── Conflict            409   the job's state forbids the action
├── PayloadTooLarge     413   the upload (or one part of it) is over its cap
├── UnsupportedMedia    415   the body is not the content type the endpoint takes
└── Unavailable         503   Postgres is down
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ApiError(Exception):
    """Raised anywhere in the master; error_handlers.py turns it into the answer."""

    status = 500
    code = "internal_error"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(ApiError):
    status = 400
    code = "invalid_input"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMedia(ApiError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "5"}
