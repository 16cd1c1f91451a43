"""Prometheus metrics: job counts and queue age are read from Postgres at scrape time,
so every master replica reports the same truth; submit latency is this replica's own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dccf import db, job_records
from dccf.jobs import JobStatus

log = logging.getLogger(__name__)


class JobsCollector(Collector):
    def __init__(self, pool: db.Pool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._pool.connection() as conn:
                counts = job_records.status_counts(conn)
                age = job_records.oldest_queued_age(conn)
        except db.DatabaseUnavailable as exc:
            log.warning("metrics: Postgres unavailable: %s", exc)
            return
        jobs = GaugeMetricFamily("dccf_jobs", "Jobs by status.", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([str(status)], counts.get(str(status), 0))
        yield jobs
        yield GaugeMetricFamily(
            "dccf_queue_oldest_age_seconds",
            "Age of the oldest queued job (0 when none is queued).",
            value=age,
        )


class Metrics:
    def __init__(self, pool: db.Pool) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(JobsCollector(pool))
        self.submit_seconds = Histogram(
            "dccf_submit_seconds",
            "Time to accept a job submission, from request to 201.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
