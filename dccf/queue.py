"""Kafka: the jobs topic carries only "job N is ready" notices; Postgres holds the truth.

A notice is a wake-up for the workers, not an assignment: each worker reads every notice and
claims the best queued job in Postgres (`dispatch`). A lost or duplicated notice is harmless:
claims are conditional, idle workers also look for queued jobs every second, and the master's
sweeper re-publishes jobs left queued. So no request ever waits on Kafka.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque

from kafka import KafkaProducer
from kafka.errors import KafkaError

from dccf.backoff import Backoff
from dccf.settings import Kafka

log = logging.getLogger(__name__)


def encode(job_id: int) -> bytes:
    return json.dumps({"job_id": job_id}).encode()


def decode(value: bytes) -> int | None:
    """The job id in a notice, or None for a record that is not one of ours."""
    try:
        data = json.loads(value)
        job_id = data["job_id"]
    except (ValueError, TypeError, KeyError):
        return None
    return job_id if isinstance(job_id, int) and job_id > 0 else None


class Notifier:
    """Publishes job ids from a thread of its own, so no request ever waits on Kafka.

    It connects lazily (the master starts while Kafka is still down) and keeps at most
    `_BACKLOG` notices while Kafka is away; anything dropped is re-sent by the sweeper.
    """

    _BACKLOG = 100_000

    def __init__(self, cfg: Kafka) -> None:
        self._cfg = cfg
        self._producer: KafkaProducer | None = None
        self._pending: deque[int] = deque(maxlen=self._BACKLOG)
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def publish(self, job_id: int) -> None:
        """Queue a notice; it is sent in the background."""
        self.publish_many([job_id])

    def publish_many(self, job_ids: list[int]) -> None:
        """Queue notices, in order; they are sent in the background."""
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
                self._thread.start()
            self._pending.extend(job_ids)
            self._wake.notify()

    def close(self, timeout: float = 5) -> None:
        """Send what is queued (for up to `timeout` seconds), then stop."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._producer is not None:
            self._producer.close(timeout=timeout)

    def _run(self) -> None:
        backoff = Backoff(first=0.5, cap=10.0)
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                job_id = self._pending.popleft()
            try:
                self._send(job_id)
                backoff.reset()
            except (KafkaError, ValueError) as exc:
                log.warning("job %d stored but not yet published (Kafka: %s)", job_id, exc)
                if self._closed:
                    return
                # The sweeper re-sends it; back off so a Kafka outage is not a busy loop.
                time.sleep(backoff.delay())

    def _send(self, job_id: int) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._cfg.servers,
                acks="all",
                # Notices of concurrent submissions share a batch: one record a batch cost a
                # quarter of the master's CPU at a few hundred submits a second.
                linger_ms=10,
                retries=5,
                request_timeout_ms=10000,
                max_block_ms=5000,
                client_id="dccf-master",
            )
        future = self._producer.send(self._cfg.topic, value=encode(job_id))
        future.add_errback(lambda exc: log.warning("publishing job %d failed: %s", job_id, exc))
