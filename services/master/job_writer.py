"""Group commit of new jobs: concurrent submissions share one INSERT and one commit.

Each submission was one statement and one commit of its own, and the round trip and the
commit's WAL flush, not the master's CPU, set the submit rate. Here a thread takes whatever
jobs arrived while the previous batch was being written and stores them all in one statement
(`job_records.insert_many`): all of the batch or none of it. Only then are the batch's
notices handed to the notifier and each caller's future resolved, so an answer still means
"stored, notice on its way" (and the sweeper re-sends the notice of any job left queued).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from dccf import db, job_records
from dccf.job_records import JobRecord, NewJob
from dccf.queue import Notifier

log = logging.getLogger(__name__)

# Big enough that a batch is never the limit with any realistic number of clients; small
# enough that one statement's arrays stay a few MB (each job brings at most one chunk).
MAX_BATCH = 64


class WriterStopped(RuntimeError):
    """The master is shutting down; the job was not stored."""


@dataclass(frozen=True)
class _Pending:
    job: NewJob
    future: Future[JobRecord] = field(default_factory=Future)


class JobWriter:
    def __init__(self, pool: db.Pool, notifier: Notifier, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._notifier = notifier
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="job-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Store what was handed in so far, then stop; later submissions fail."""
        with self._lock:
            self._stopped = True
            self._queue.put(None)
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def submit(self, job: NewJob) -> Future[JobRecord]:
        """Queue a job for the next batch; the future holds its record once it is stored and
        its notice handed over, or the error that failed its batch."""
        pending = _Pending(job)
        with self._lock:
            if self._stopped:
                raise WriterStopped("the master is shutting down; submit the job again")
            self._queue.put(pending)
        return pending.future

    async def insert(self, job: NewJob) -> JobRecord:
        return await asyncio.wrap_future(self.submit(job))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._write(batch)
                    return
                batch.append(more)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        # A caller that went away (its request cancelled) is left out; from here on the
        # others' futures cannot be cancelled, so each gets its answer.
        batch = [pending for pending in batch if pending.future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            with self._pool.connection() as conn:
                records = job_records.insert_many(conn, [pending.job for pending in batch])
        except Exception as exc:  # every caller of the batch gets the error; none is stored
            if not isinstance(exc, db.DatabaseUnavailable):
                log.error("a batch of %d new jobs failed: %s", len(batch), exc)
            for pending in batch:
                pending.future.set_exception(exc)
            return
        self._notifier.publish_many([record.id for record in records])
        for pending, record in zip(batch, records, strict=True):
            pending.future.set_result(record)
