"""The client's errors: an error answer of the API, or a failure on the way to one.

DccfError            status, code, message: an error answer of the API, or one of:
├── Unreachable      the master could not be reached or did not answer in time
└── WaitTimeout      `wait()` ran out of time; `.job` is the last state seen
"""

from __future__ import annotations

from typing import Any

import httpx

Job = dict[str, Any]


class DccfError(Exception):
    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status else ""
        return f"{prefix}{self.code}: {self.message}"


class Unreachable(DccfError):
    def __init__(self, message: str) -> None:
        super().__init__(None, "unreachable", message)


class WaitTimeout(DccfError):
    def __init__(self, job: Job, seconds: float) -> None:
        super().__init__(
            None,
            "wait_timeout",
            f"job {job['id']} is still {job['status']} after {seconds:g} s of waiting",
        )
        self.job = job


def error_from(response: httpx.Response) -> DccfError:
    try:
        error = response.json()["error"]
        return DccfError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return DccfError(response.status_code, f"http_{response.status_code}", text)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The body's JSON object; every endpoint the client calls answers one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise DccfError(
            response.status_code,
            "bad_response",
            f"{response.request.url} answered {response.status_code} without a JSON object: is "
            "the URL a DCCF master?",
        )
    return body
