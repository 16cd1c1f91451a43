"""Jobs submitted together at the start of the session and awaited one by one.

Each test module may declare `JOBS = {name: submitter}`; the session submits every collected
module's jobs before the first test runs, so the workers chew through them while earlier tests
wait for theirs. A submission that fails is reported by the tests that needed it, not by all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import pytest

from .api import Job, wait_terminal

Submitter = Callable[[httpx.Client], httpx.Response]


class Batch:
    def __init__(self, client: httpx.Client, submitters: Mapping[str, Submitter]) -> None:
        self._client = client
        self._responses: dict[str, httpx.Response] = {}
        self._errors: dict[str, str] = {}
        self._results: dict[str, Job] = {}
        for name, submitter in submitters.items():
            try:
                response = submitter(client)
            except httpx.HTTPError as exc:
                self._errors[name] = f"submitting {name!r} failed: {exc!r}"
                continue
            if response.status_code not in (200, 201):
                self._errors[name] = (
                    f"submitting {name!r} answered {response.status_code}: {response.text[:2000]}"
                )
                continue
            self._responses[name] = response

    def response(self, name: str) -> httpx.Response:
        if name in self._errors:
            pytest.fail(self._errors[name], pytrace=False)
        return self._responses[name]

    def job_id(self, name: str) -> int:
        body = self.response(name).json()
        return body if isinstance(body, int) else body["id"]

    def result(self, name: str) -> Job:
        """The job once terminal (waited for once, then cached)."""
        if name not in self._results:
            self._results[name] = wait_terminal(self._client, self.job_id(name))
        return self._results[name]
