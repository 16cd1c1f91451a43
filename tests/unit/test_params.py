from __future__ import annotations

import pytest
from starlette.requests import Request

from dccf.job_records import Cursor, Order
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
    newest, by_priority = Order.NEWEST, Order.PRIORITY
    assert params.cursor_query(request("before=17"), newest) == Cursor(17)
    assert params.cursor_query(request("before=-5.17"), by_priority) == Cursor(17, -5)
    for bad, order in [
        ("abc", newest),
        ("-5.17", newest),
        ("17", by_priority),
        ("1.", by_priority),
    ]:
        with pytest.raises(InvalidInput, match="before must be the 'next' cursor"):
            params.cursor_query(request(f"before={bad}"), order)
    with pytest.raises(InvalidInput, match="stream must be"):
        params.stream_query(request("stream=all"))


def test_order_and_priority() -> None:
    assert params.order_query(request("")) is Order.NEWEST
    assert params.order_query(request("order=priority")) is Order.PRIORITY
    with pytest.raises(InvalidInput, match="order must be one of newest, priority"):
        params.order_query(request("order=oldest"))
    assert params.priority_query(request("")) is None
    assert params.priority_query(request("priority=-100")) == -100
    with pytest.raises(InvalidInput, match="priority must be a whole number from -100 to 100"):
        params.priority_query(request("priority=101"))


def test_a_cursor_names_where_the_page_ended() -> None:
    assert Cursor(17, -5).encode(Order.PRIORITY) == "-5.17"
    assert Cursor(17, -5).encode(Order.NEWEST) == "17"
