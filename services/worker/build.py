"""Building a job's image from its context, with its build log kept and cancel honoured."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

import docker
import docker.errors
import requests

from dccf.jobs import JobStatus, LogStream, Reason
from services.worker.live_logs import LiveLogs
from services.worker.run_spec import ENGINE_ERRORS, RunSpec

CANCEL_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Built:
    """SUCCEEDED, or the job's end (`build_failed`, `cancelled`) with the note for its log."""

    status: JobStatus
    reason: Reason | None = None
    note: bytes = b""


def build_image(
    api: docker.APIClient,
    spec: RunSpec,
    context: IO[bytes],
    logs: LiveLogs,
    cancelled: threading.Event,
) -> Built:
    """Build `context` (an uncompressed tar, read once) as `spec.tag`."""
    error: str | None = None
    with _AbortOnCancel(api, cancelled):
        try:
            stream = api.build(
                fileobj=context,
                custom_context=True,
                rm=True,
                forcerm=True,
                tag=spec.tag,
                buildargs=dict(spec.build_args),
                decode=True,
            )
            for item in stream:
                error = _record(item, logs) or error
        except docker.errors.APIError as exc:
            # A Dockerfile the daemon cannot parse is answered with 400 before any step runs.
            if not (exc.is_client_error() or cancelled.is_set()):
                raise
            error = str(exc.explanation)
        except ENGINE_ERRORS:
            if not cancelled.is_set():
                raise
    if cancelled.is_set():
        return Built(JobStatus.CANCELLED, Reason.CANCELLED)
    if error is not None:
        # The reason goes after the "dropped" line: a long build log must still say why it failed.
        return Built(JobStatus.FAILED, Reason.BUILD_FAILED, f"{error}\n".encode())
    return Built(JobStatus.SUCCEEDED)


def _record(item: dict[str, Any], logs: LiveLogs) -> str | None:
    """Append one decoded build message to the log; return its error text if it is one."""
    if "error" in item:
        return str(item["error"])
    if "stream" in item:
        logs.feed(LogStream.BUILD, str(item["stream"]).encode())
    elif "status" in item and "progress" not in item:
        logs.feed(LogStream.BUILD, f"{item['status']}\n".encode())
    return None


class _AbortOnCancel:
    """Cuts this thread's /build connection when `cancelled` is set.

    The daemon's builder kills the running step when its client goes away, which is the only way
    to stop a build; the SDK hides the response, so a session response hook, limited to this
    thread's /build request, keeps it.
    """

    def __init__(self, api: docker.APIClient, cancelled: threading.Event) -> None:
        self._api = api
        self._cancelled = cancelled
        self._thread_id = threading.get_ident()
        self._response: requests.Response | None = None
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="dccf-build-cancel", daemon=True)

    def __enter__(self) -> _AbortOnCancel:
        self._api.hooks["response"].append(self._remember)
        self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._watcher.join()
        self._api.hooks["response"].remove(self._remember)

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if threading.get_ident() == self._thread_id and "/build" in response.url:
            self._response = response

    def _watch(self) -> None:
        while not self._done.wait(CANCEL_POLL_SECONDS):
            if self._cancelled.is_set() and self._response is not None:
                connection = getattr(self._response.raw, "connection", None)
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    # shutdown, not close: it wakes the thread blocked reading the stream.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return
