"""Wakes long-polling requests when a job's status changes (Postgres LISTEN/NOTIFY).

A thread listens on a connection of its own (db.wait_for_notifications). Waiters also re-read
the job every second, so a missed notice (a reconnect, an overflowing deque) costs at most that.
The same watch on another channel (`dccf_job_log`) wakes the dashboard's log followers, and a
`changes()` subscription collects the ids of every job notified, for the live job list.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict

from dccf import db
from dccf.settings import Postgres

CHANNEL = "dccf_job_status"


class Changes:
    """The ids notified since the last `take()`; lives on the event loop's thread."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._event = asyncio.Event()

    def add(self, ids: list[int]) -> None:
        self._ids.update(ids)
        self._event.set()

    async def take(self, timeout: float) -> set[int]:
        """The ids gathered so far, waiting up to `timeout` s for the first (empty: none)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        ids, self._ids = self._ids, set()
        return ids


class StatusWatch:
    def __init__(self, cfg: Postgres, channel: str = CHANNEL) -> None:
        self._cfg = cfg
        self._channel = channel
        self._changes: set[Changes] = set()
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

    @contextlib.contextmanager
    def changes(self):  # type: ignore[no-untyped-def]
        """Collects every notified job id while the `with` block runs."""
        subscriber = Changes()
        with self._lock:
            self._changes.add(subscriber)
        try:
            yield subscriber
        finally:
            with self._lock:
                self._changes.discard(subscriber)

    def _wake(self, job_id: int) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        if events and self._loop is not None:
            for event in events:
                self._loop.call_soon_threadsafe(event.set)

    def _run(self) -> None:
        db.listen(
            self._cfg, self._channel, f"dccf-watch-{self._channel}", self._stop, self._on_notices
        )

    def _on_notices(self, payloads: list[str]) -> None:
        ids = [int(payload) for payload in payloads if payload.isdigit()]
        for job_id in ids:
            self._wake(job_id)
        with self._lock:
            subscribers = list(self._changes)
        if ids and subscribers and self._loop is not None:
            for subscriber in subscribers:
                self._loop.call_soon_threadsafe(subscriber.add, ids)
