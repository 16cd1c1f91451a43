"""Wakes long-polling requests when a job's status changes (Postgres LISTEN/NOTIFY).

A thread listens on a connection of its own (db.wait_for_notifications). Waiters also re-read
the job every second, so a missed notice (a reconnect, an overflowing deque) costs at most that.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict

from dccf import db
from dccf.settings import Postgres

CHANNEL = "dccf_job_status"


class StatusWatch:
    def __init__(self, cfg: Postgres) -> None:
        self._cfg = cfg
        self._waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="status-watch", daemon=True)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @contextlib.contextmanager
    def subscription(self, job_id: int):  # type: ignore[no-untyped-def]
        event = asyncio.Event()
        with self._lock:
            self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            with self._lock:
                self._waiters[job_id].discard(event)
                if not self._waiters[job_id]:
                    del self._waiters[job_id]

    def _wake(self, job_id: int) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        if events and self._loop is not None:
            for event in events:
                self._loop.call_soon_threadsafe(event.set)

    def _run(self) -> None:
        db.listen(self._cfg, CHANNEL, "dccf-status-watch", self._stop, self._on_notices)

    def _on_notices(self, payloads: list[str]) -> None:
        for payload in payloads:
            if payload.isdigit():
                self._wake(int(payload))
