"""Every failure leaves the master as the API.md error object; none as a stack trace."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dccf.db import DatabaseUnavailable
from services.master.errors import ApiError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}; see /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs"
    return _error(exc.status_code, code, str(message), dict(exc.headers or {}))


async def database_down(request: Request, exc: Exception) -> Response:
    log.warning("Postgres unavailable: %s", exc)
    return _error(
        503,
        "unavailable",
        "the job database is unavailable; retry in a few seconds",
        {"Retry-After": "5"},
    )


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "internal_error", "the master hit an unexpected error; it has been logged")


handlers = {
    ApiError: api_error,
    HTTPException: http_error,
    DatabaseUnavailable: database_down,
    Exception: unexpected,
}
