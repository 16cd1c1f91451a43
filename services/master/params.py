"""Parsing of path and query parameters into the values the endpoints use."""

from __future__ import annotations

from starlette.requests import Request

from dccf.jobs import JobStatus, LogStream
from services.master.errors import InvalidInput, NotFound

_MAX_ID = 2**63 - 1


def job_id(raw: str) -> int:
    """A malformed id names no job: 404, like an unknown one (API.md)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= _MAX_ID:
        raise NotFound(f"no job with id {raw[:40]!r}; job ids are positive integers")
    return int(raw)


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(
            f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}",
            code="invalid_parameter",
        )
    return int(raw)


def status_query(request: Request) -> JobStatus | None:
    raw = request.query_params.get("status")
    if not raw:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(
            f"status must be one of {allowed}, got {raw[:40]!r}", code="invalid_parameter"
        ) from None


def cursor_query(request: Request) -> int | None:
    raw = request.query_params.get("before")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidInput(
            "before must be the 'next' cursor of a previous page", code="invalid_parameter"
        )
    return int(raw)


def stream_query(request: Request) -> LogStream | None:
    raw = request.query_params.get("stream")
    if not raw:
        return None
    try:
        return LogStream(raw)
    except ValueError:
        raise InvalidInput(
            f"stream must be build, stdout or stderr, got {raw[:40]!r}", code="invalid_parameter"
        ) from None
