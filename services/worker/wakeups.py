"""Kafka notices as wake-ups: every worker reads every notice and takes it as "look for work".

There is no consumer group: a group hands each partition to one worker, so a notice landing in
the partition of a busy worker waited for it (91 s beside an idle worker, measured) and workers
beyond the partition count got nothing. Reading all partitions from their ends instead, every
idle worker hears of every new job within milliseconds and races for the best queued one in
Postgres, where the claim is conditional; busy workers only note the wake-up. No offsets are
committed: a notice missed while a worker was away costs nothing, because the worker also
looks for queued jobs on its own every second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from dccf.backoff import Backoff
from dccf.settings import Kafka

log = logging.getLogger(__name__)

POLL_MS = 500
# A partition added to the topic is read from within this long.
PARTITIONS_CHECK_S = 30.0


class KafkaWakeups:
    """Calls `wake()` whenever notices arrive, from a thread of its own."""

    def __init__(self, cfg: Kafka, client_id: str, wake: Callable[[], None]) -> None:
        self._cfg = cfg
        self._client_id = client_id
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
        self._consumer: KafkaConsumer | None = None
        self._partitions: set[int] = set()
        self._next_partitions_check = 0.0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = Backoff(first=0.5, cap=5.0)
        away = False
        while not self._stop.is_set():
            try:
                self._poll()
            except KafkaError as exc:
                # The worker goes on claiming by its own timer meanwhile.
                if not away:
                    log.warning("Kafka unavailable; wake-ups wait for it: %s", exc)
                away = True
                self._stop.wait(backoff.delay())
                continue
            if away:
                log.info("Kafka is back")
                away = False
            backoff.reset()
        if self._consumer is not None:
            self._consumer.close()

    def _poll(self) -> None:
        consumer = self._consumer or self._connect()
        if time.monotonic() >= self._next_partitions_check:
            self._assign(consumer)
        if not self._partitions:
            self._stop.wait(1.0)
            return
        if consumer.poll(timeout_ms=POLL_MS):
            self._wake()

    def _connect(self) -> KafkaConsumer:
        self._consumer = KafkaConsumer(
            bootstrap_servers=self._cfg.servers,
            group_id=None,
            client_id=self._client_id,
            enable_auto_commit=False,
            # send -> wake-up took ~85 ms with the default 500 ms fetch wait, ~9 ms with 50.
            fetch_max_wait_ms=50,
        )
        return self._consumer

    def _assign(self, consumer: KafkaConsumer) -> None:
        """Read every partition of the topic from its end (older notices are of jobs that
        an idle worker has found by itself)."""
        found = consumer.partitions_for_topic(self._cfg.topic) or set()
        # A topic not created yet is looked for again soon.
        wait = PARTITIONS_CHECK_S if found else 1.0
        self._next_partitions_check = time.monotonic() + wait
        if found == self._partitions:
            return
        new = [TopicPartition(self._cfg.topic, p) for p in found - self._partitions]
        consumer.assign([TopicPartition(self._cfg.topic, p) for p in found])
        if new:
            consumer.seek_to_end(*new)
        self._partitions = set(found)
        log.info("reading notices from %d partitions of %s", len(found), self._cfg.topic)
