"""Kafka: the jobs topic carries only "job N is ready" notices; Postgres holds the truth.

A lost or duplicated notice is harmless: claims are conditional, and the master's sweeper
re-publishes jobs left queued. So the producer never makes a request wait on Kafka.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

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
    """Publishes job ids; connects lazily so the master starts while Kafka is still down."""

    def __init__(self, cfg: Kafka) -> None:
        self._cfg = cfg
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._partitions: int | None = None

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._cfg.servers,
                    acks="all",
                    linger_ms=2,
                    retries=5,
                    request_timeout_ms=10000,
                    max_block_ms=2000,
                    client_id="dccf-master",
                )
            return self._producer

    def publish(self, job_id: int, spread: bool = False) -> bool:
        """Queue a notice without waiting for the broker; False if Kafka is unreachable now.

        `spread` picks a random partition, for a notice sent again because the first may be
        stuck behind a long job in its partition.
        """
        try:
            producer = self._get()
            partition = None if spread else self._partition_for(job_id)
            future = producer.send(self._cfg.topic, value=encode(job_id), partition=partition)
        except (KafkaError, ValueError) as exc:
            log.warning("job %d stored but not yet published (Kafka: %s)", job_id, exc)
            return False
        future.add_errback(lambda exc: log.warning("publishing job %d failed: %s", job_id, exc))
        return True

    def _partition_for(self, job_id: int) -> int | None:
        # Spreading ids evenly over partitions keeps workers evenly loaded, where random
        # placement left one worker idle while another still had a queue.
        if self._partitions is None:
            parts = self._get().partitions_for(self._cfg.topic)
            if not parts:
                return None
            self._partitions = len(parts)
        return job_id % self._partitions

    def healthy(self) -> bool:
        try:
            return bool(self._get().partitions_for(self._cfg.topic))
        except KafkaError:
            return False

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


def consumer(cfg: Kafka, client_id: str, **overrides: Any) -> KafkaConsumer:
    """A consumer that commits by hand, one record at a time, after the claim."""
    options: dict[str, Any] = {
        "bootstrap_servers": cfg.servers,
        "group_id": cfg.group,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 1,
        "fetch_max_wait_ms": 50,
        "session_timeout_ms": cfg.session_timeout_ms,
        "heartbeat_interval_ms": max(1000, cfg.session_timeout_ms // 3),
        "max_poll_interval_ms": 300000,
    }
    options.update(overrides)
    return KafkaConsumer(**options)
