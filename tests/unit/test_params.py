from __future__ import annotations

import pytest
from starlette.requests import Request

from dccf.jobs import JobStatus
from services.master import params
from services.master.errors import InvalidInput, NotFound


def request(query: str) -> Request:
    return Request({"type": "http", "query_string": query.encode(), "headers": []})


@pytest.mark.parametrize("raw", ["1", "42", "9223372036854775807"])
def test_good_ids(raw: str) -> None:
    assert params.job_id(raw) == int(raw)


@pytest.mark.parametrize(
    "raw", ["0", "-1", "abc", "1.5", "9223372036854775808", "9" * 40, "١٢", " 1", ""]
)
def test_malformed_ids_are_not_found(raw: str) -> None:
    with pytest.raises(NotFound):
        params.job_id(raw)


def test_int_query_default_and_range() -> None:
    assert params.int_query(request(""), "limit", 50, 1, 200) == 50
    assert params.int_query(request("limit=200"), "limit", 50, 1, 200) == 200
    for bad in ("0", "201", "-5", "x", "1e3"):
        with pytest.raises(InvalidInput, match="limit must be a whole number from 1 to 200"):
            params.int_query(request(f"limit={bad}"), "limit", 50, 1, 200)


def test_status_and_cursor_and_stream() -> None:
    assert params.status_query(request("status=running")) is JobStatus.RUNNING
    with pytest.raises(InvalidInput, match="status must be one of"):
        params.status_query(request("status=done"))
    assert params.cursor_query(request("before=17")) == 17
    with pytest.raises(InvalidInput):
        params.cursor_query(request("before=abc"))
    with pytest.raises(InvalidInput, match="stream must be"):
        params.stream_query(request("stream=all"))
