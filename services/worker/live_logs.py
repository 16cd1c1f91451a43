"""A running job's three logs, fed by the threads that read them and read back, while the job
runs, by the worker loop that stores them each second (so `GET /v1/jobs/{id}/logs` and the
dashboard show a job's progress, not only its end).

A followed container log is for watching only: Docker 20.10 was seen to end a follow stream
before the last output of a container that exits quickly (14 KB of 100 KB missing under load),
so once the container has exited each stream is read again whole and `settle` puts that
reading in place of what was followed."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from dccf.jobs import LogStream
from services.worker.logs import CappedLog, LogCapture


class LiveLogs:
    def __init__(self, cap_bytes: int) -> None:
        self._cap = cap_bytes
        self._captures = {stream: LogCapture(cap_bytes) for stream in LogStream}
        self._changed: set[LogStream] = set()
        self._settled: set[LogStream] = set()
        self._lock = threading.Lock()

    def feed(self, stream: LogStream, chunk: bytes) -> None:
        """Add to a stream; ignored once the stream is settled."""
        if not chunk:
            return
        with self._lock:
            if stream in self._settled:
                return
            self._captures[stream].feed(chunk)
            self._changed.add(stream)

    def settle(self, stream: LogStream, chunks: Iterable[bytes]) -> None:
        """Replace the stream with the whole of `chunks` (read outside the lock), for good."""
        capture = LogCapture(self._cap)
        for chunk in chunks:
            capture.feed(chunk)
        with self._lock:
            self._captures[stream] = capture
            self._settled.add(stream)
            self._changed.add(stream)

    def changed(self) -> dict[LogStream, CappedLog]:
        """The streams fed since the last call, as they stand now."""
        with self._lock:
            streams, self._changed = self._changed, set()
            return {stream: self._captures[stream].result() for stream in streams}

    def unstored(self, streams: Iterable[LogStream]) -> None:
        """Streams `changed` gave that could not be stored: they count as changed again."""
        with self._lock:
            self._changed.update(streams)

    def result(self, stream: LogStream, footer: bytes = b"") -> CappedLog:
        """The stream's final form; `footer` (the runner's own note) survives the cap."""
        with self._lock:
            return self._captures[stream].result(footer)
