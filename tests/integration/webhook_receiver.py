"""A real webhook endpoint for tests: an HTTP server on 127.0.0.1 in a thread that records
every request and answers what the test tells it to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.time() on arrival

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def job(self) -> dict[str, Any]:
        job: dict[str, Any] = self.event["job"]
        return job

    @property
    def delivery(self) -> str:
        return self.headers["x-dccf-delivery"]


class Receiver:
    def __init__(self) -> None:
        self.answer: Callable[[Hit], int] = lambda hit: 204
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, job_id: int | None = None) -> list[Hit]:
        with self._lock:
            hits = list(self._hits)
        return [h for h in hits if job_id is None or h.job["id"] == job_id]

    def wait_for(self, count: int, job_id: int | None = None, timeout: float = 10) -> list[Hit]:
        """The first `count` hits (of one job), failing the test if they do not come in time."""
        deadline = time.monotonic() + timeout
        while len(hits := self.hits(job_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests in {timeout} s: {hits}")
            time.sleep(0.005)
        return hits

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hit = Hit(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.time(),
                )
                with receiver._lock:
                    receiver._hits.append(hit)
                status = receiver.answer(hit)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
