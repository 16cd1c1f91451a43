"""Every failure leaves the master as the API.md error object; none as a stack trace.

This is the one place an error body is written: `ApiError`s (errors.py) and Starlette's own
HTTP errors become `models.Error`, and a down Postgres becomes `errors.Unavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dccf.db import DatabaseUnavailable
from services.master.errors import ApiError, Unavailable
from services.master.models import Error, ErrorDetail
from services.master.responses import ModelResponse

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def detail(exc: ApiError) -> ErrorDetail:
    return ErrorDetail(code=exc.code, message=exc.message)


def _answer(status: int, error: ErrorDetail, headers: Mapping[str, str]) -> Response:
    return ModelResponse(Error(error), status_code=status, headers=dict(headers))


def error_response(exc: ApiError) -> Response:
    return _answer(exc.status, detail(exc), exc.headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}; see /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs"
    return _answer(exc.status_code, ErrorDetail(code, str(message)), exc.headers or {})


async def database_down(request: Request, exc: Exception) -> Response:
    log.warning("Postgres unavailable: %s", exc)
    return error_response(Unavailable("the job database is unavailable; retry in a few seconds"))


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(ApiError("the master hit an unexpected error; it has been logged"))


handlers = {
    ApiError: api_error,
    HTTPException: http_error,
    DatabaseUnavailable: database_down,
    Exception: unexpected,
}
