"""Parsing of path and query parameters into the values the endpoints use."""

from __future__ import annotations

import re

from starlette.requests import Request

from dccf.job_records import Cursor, Order
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobStatus, LogStream
from services.master.errors import InvalidInput, NotFound
from services.master.models import MAX_JOB_ID

_ID_CURSOR = re.compile(r"[0-9]{1,19}")
_PRIORITY_CURSOR = re.compile(r"(?P<priority>-?[0-9]{1,3})\.(?P<id>[0-9]{1,19})")


def job_id(raw: str) -> int:
    """A malformed id names no job: 404, like an unknown one (API.md)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_JOB_ID:
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


def order_query(request: Request) -> Order:
    raw = request.query_params.get("order")
    if not raw:
        return Order.NEWEST
    try:
        return Order(raw)
    except ValueError:
        allowed = ", ".join(o.value for o in Order)
        raise InvalidInput(
            f"order must be one of {allowed}, got {raw[:40]!r}", code="invalid_parameter"
        ) from None


def priority_query(request: Request) -> int | None:
    if not request.query_params.get("priority"):
        return None
    return int_query(request, "priority", 0, MIN_PRIORITY, MAX_PRIORITY)


def cursor_query(request: Request, order: Order) -> Cursor | None:
    """The `next` of a previous page: `<id>`, or `<priority>.<id>` for `order=priority`."""
    raw = request.query_params.get("before")
    if not raw:
        return None
    pattern = _PRIORITY_CURSOR if order is Order.PRIORITY else _ID_CURSOR
    match = pattern.fullmatch(raw)
    if match is None or len(raw) > 24:
        raise InvalidInput(
            "before must be the 'next' cursor of a previous page of the same order",
            code="invalid_parameter",
        )
    if order is Order.PRIORITY:
        return Cursor(int(match["id"]), int(match["priority"]))
    return Cursor(int(raw))


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
