"""The worker loop: consume → claim → commit → run (paused, still polling) → store.

Kafka only says "job N may be ready"; the conditional claim in Postgres decides who runs
it. The offset is committed right after the claim, because from then on Postgres owns the
job: if this worker dies, the lease runs out and the master's sweeper queues it again.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from dccf import db, filestore, job_records, queue
from dccf.job_records import JobRecord
from dccf.jobs import JobStatus, Reason
from dccf.settings import Settings
from services.worker import runner
from services.worker.heartbeat import Heartbeat
from services.worker.results import store_outcome

log = logging.getLogger(__name__)

_CONTEXT_PATH = "context.tar"
_POLL_WHILE_BUSY_S = 0.2
# Renewing the lease also reads the cancel flag: once a second stops a cancelled job fast.
_RENEW_EVERY_S = 1.0
_PRUNE_CHECK_EVERY_S = 60.0


class _RepauseOnAssign(ConsumerRebalanceListener):
    """Partitions gained in a rebalance arrive unpaused; a busy worker must not fetch them."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.worker.busy and assigned:
            self.worker.consumer.pause(*assigned)


class Worker:
    def __init__(
        self,
        cfg: Settings,
        pool: db.Pool,
        docker_client: docker.DockerClient,
        consumer_factory: Callable[[], KafkaConsumer] | None = None,
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.docker = docker_client
        self.busy = False
        # When the main loop last moved: a poll returned or a Postgres retry went round.
        self.progress_at = time.monotonic()
        self._next_prune_check = 0.0
        self._kafka_away = False
        self.heartbeat = Heartbeat(cfg, pool)
        self._stop = threading.Event()
        self._make_consumer = consumer_factory or (
            lambda: queue.consumer(cfg.kafka, client_id=cfg.worker.worker_id)
        )
        self.consumer: KafkaConsumer = None  # type: ignore[assignment]

    def request_stop(self) -> None:
        """Finish the current job, then leave the group."""
        self._stop.set()

    def run(self, max_jobs: int | None = None, idle_timeout: float | None = None) -> int:
        """Process jobs until asked to stop; returns how many jobs this worker ran.

        `max_jobs` and `idle_timeout` (seconds without a job) make the loop testable.
        """
        self.consumer = self._connect()
        self.consumer.subscribe([self.cfg.kafka.topic], listener=_RepauseOnAssign(self))
        self._remove_leftovers()
        ran = 0
        last_work = time.monotonic()
        kafka_delay = 0.5
        try:
            while not self._stop.is_set():
                if max_jobs is not None and ran >= max_jobs:
                    break
                if idle_timeout is not None and time.monotonic() - last_work > idle_timeout:
                    break
                records = self._poll(timeout_ms=500)
                if records is None:
                    self._stop.wait(kafka_delay)
                    kafka_delay = min(kafka_delay * 2, 5)
                    continue
                kafka_delay = 0.5
                for partition, messages in records.items():
                    for message in messages:
                        if self._handle(partition, message):
                            ran += 1
                            last_work = time.monotonic()
        finally:
            self.consumer.close()
            self.heartbeat.leave()
        return ran

    def _poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]] | None:
        """The consumer's poll, or None while Kafka is away.

        kafka-python raises connection errors out of poll() when no broker answers (while it
        looks for the group coordinator, say); the consumer recovers on a later poll, so the
        worker waits for Kafka instead of exiting with its job half done.
        """
        # The one call site of the heartbeat: polls run every 0.5 s when idle and every 0.2 s
        # while a job runs.
        self.heartbeat.beat()
        try:
            records: dict[TopicPartition, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms)
            self.progress_at = time.monotonic()
        except KafkaError as exc:
            self.progress_at = time.monotonic()
            if not self._kafka_away:
                log.warning("Kafka unavailable; polling on until it is back: %s", exc)
            self._kafka_away = True
            return None
        if self._kafka_away:
            log.info("Kafka is back")
            self._kafka_away = False
        return records

    def _connect(self) -> KafkaConsumer:
        delay = 0.5
        while True:
            try:
                return self._make_consumer()
            except KafkaError as exc:
                if self._stop.is_set():
                    raise
                log.warning("Kafka not reachable, retrying in %.1f s: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 10)

    def _handle(self, partition: TopicPartition, message: Any) -> bool:
        job_id = queue.decode(message.value)
        job = None
        if job_id is not None:
            job = self._retry_db(lambda: self._claim(job_id), f"claiming job {job_id}")
        # Commit only after the claim: from here on Postgres owns the job. A commit lost to a
        # Kafka outage or a rebalance only means this notice comes again, and its claim fails.
        try:
            self.consumer.commit({partition: OffsetAndMetadata(message.offset + 1, "", -1)})
        except KafkaError as exc:
            log.warning("committing the notice of job %s failed: %s", job_id, exc)
        if job is None:
            return False
        log.info("job %d: claimed (attempt %d)", job.id, job.attempt)
        self._execute(job)
        return True

    def _claim(self, job_id: int) -> JobRecord | None:
        with self.pool.connection() as conn:
            return job_records.claim(
                conn, job_id, self.cfg.worker.worker_id, self.cfg.worker.lease_seconds
            )

    def _execute(self, job: JobRecord) -> None:
        self.busy = True
        assignment = self.consumer.assignment()
        if assignment:
            self.consumer.pause(*assignment)
        try:
            with tempfile.TemporaryDirectory(prefix=f"dccf-job-{job.id}-") as tmp:
                outcome = self._run_while_polling(job, Path(tmp))
                if outcome is not None:
                    stored = self._retry_db(
                        lambda: store_outcome(self.pool, job.id, job.attempt, outcome),
                        f"storing the result of job {job.id}",
                    )
                    if stored:
                        log.info("job %d: %s %s", job.id, outcome.status, outcome.reason or "")
        finally:
            self.busy = False
            paused = self.consumer.paused()
            if paused:
                self.consumer.resume(*paused)
        self._prune_now_and_then()

    def _remove_leftovers(self) -> None:
        """A previous run of this worker killed mid-job left its container running."""
        try:
            removed = runner.remove_leftovers(self.docker, self.cfg.worker.worker_id)
        except runner.EngineError as exc:
            log.warning("could not remove leftovers of an earlier run: %s", exc)
            return
        if removed:
            log.info("removed %d leftover containers and images of an earlier run", removed)

    def _prune_now_and_then(self) -> None:
        # Asking the daemon for its disk use takes 40-80 ms: not after every job.
        if time.monotonic() < self._next_prune_check:
            return
        self._next_prune_check = time.monotonic() + _PRUNE_CHECK_EVERY_S
        try:
            runner.prune_if_needed(self.docker, int(self.cfg.worker.prune_threshold_gb * 1e9))
        except runner.EngineError as exc:
            log.warning("pruning the docker daemon failed; retried later: %s", exc)

    def _run_while_polling(self, job: JobRecord, workdir: Path) -> runner.RunOutcome | None:
        """Run the job in a thread; meanwhile keep the consumer in its group and the lease fresh."""
        cancelled = threading.Event()
        finished = threading.Event()
        lost = False
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                with self._context(job.id, workdir) as context:
                    result["outcome"] = runner.run_job(
                        self.docker, self._spec(job), context, workdir, cancelled
                    )
            except Exception as exc:  # reported as the job's internal_error below
                result["error"] = exc
            finally:
                finished.set()

        thread = threading.Thread(target=target, name=f"job-{job.id}", daemon=True)
        thread.start()
        next_renewal = time.monotonic() + _RENEW_EVERY_S
        while not finished.wait(_POLL_WHILE_BUSY_S):
            self._poll_paused()
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + _RENEW_EVERY_S
                state = self._renew(job)
                if state is None:
                    lost = True
                    cancelled.set()
                elif state:
                    cancelled.set()
        thread.join()
        if lost:
            log.warning("job %d: lease lost to another attempt; dropping this run", job.id)
            return None
        if "error" in result:
            log.exception("job %d: internal error", job.id, exc_info=result["error"])
            return _internal_error(result["error"])
        outcome: runner.RunOutcome = result["outcome"]
        return outcome

    def _poll_paused(self) -> None:
        # Paused partitions return nothing; anything that slipped through (a partition
        # assigned between pause and poll) is rewound so it is not skipped.
        for partition, messages in (self._poll(timeout_ms=0) or {}).items():
            if messages:
                self.consumer.seek(partition, messages[0].offset)
                self.consumer.pause(partition)

    def _renew(self, job: JobRecord) -> bool | None:
        """True if cancel was asked, None if the job is no longer ours, False otherwise."""
        try:
            with self.pool.connection() as conn:
                return job_records.renew_lease(
                    conn, job.id, job.attempt, self.cfg.worker.lease_seconds
                )
        except db.DatabaseUnavailable as exc:
            log.warning("job %d: cannot renew the lease: %s", job.id, exc)
            return False

    def _context(self, job_id: int, workdir: Path) -> Any:
        """The stored build context, spooled to a local file so the build can stream it.

        A Postgres outage while reading it is waited out, like a claim's: it is no fault of
        the job's, which must not end `failed` for it.
        """
        return self._retry_db(
            lambda: self._spool_context(job_id, workdir),
            f"reading the build context of job {job_id}",
        )

    def _spool_context(self, job_id: int, workdir: Path) -> Any:
        spool = tempfile.TemporaryFile(dir=workdir)  # noqa: SIM115 - the caller closes it
        try:
            with self.pool.connection() as conn:
                stored = filestore.find(conn, job_id, "context", _CONTEXT_PATH)
            if stored is None:
                raise RuntimeError(f"job {job_id} has no stored build context")
            for chunk in filestore.chunks(self.pool, stored.id):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _spec(self, job: JobRecord) -> runner.RunSpec:
        limits = self.cfg.limits
        return runner.RunSpec(
            job_id=job.id,
            attempt=job.attempt,
            limits=job.limits,
            build_args=job.build_args,
            pids_limit=limits.pids,
            log_cap_bytes=limits.log_cap_bytes,
            max_output_bytes=limits.max_output_bytes,
            worker=self.cfg.worker.worker_id,
        )

    def _retry_db(self, action: Callable[[], Any], what: str) -> Any:
        """Postgres outages are waited out: a claim or a result must not be dropped.

        Retries come at least every third of a lease, so a result is stored well within the
        master's grace after an outage, before the job would count as lost.
        """
        delay = 0.5
        longest = min(10.0, self.cfg.worker.lease_seconds / 3)
        while True:
            self.progress_at = time.monotonic()  # waiting on purpose is not a hang
            try:
                return action()
            except db.DatabaseUnavailable as exc:
                log.warning("%s: Postgres unavailable, retrying in %.1f s: %s", what, delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, longest)


def _internal_error(exc: BaseException) -> runner.RunOutcome:
    message = f"DCCF worker error: {type(exc).__name__}: {exc}\n".encode()
    empty = runner.CappedLog(b"", 0)
    return runner.RunOutcome(
        status=JobStatus.FAILED,
        reason=Reason.INTERNAL_ERROR,
        exit_code=None,
        build_log=runner.CappedLog(message, 0),
        stdout=empty,
        stderr=empty,
        outputs=[],
    )
