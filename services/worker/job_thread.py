"""A job's thread: spool its stored build context, run it, store its result fenced by its
attempt. What it shares with the worker loop (cancel, a lost lease, live logs) is its `Slot`."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import docker

from dccf import db, filestore
from dccf.backoff import Backoff, retry
from dccf.dispatch import Held
from dccf.filestore import CONTEXT_PATH, FileKind
from dccf.job_records import JobRecord
from dccf.jobs import JobStatus, Reason
from dccf.settings import Settings
from services.worker import runner
from services.worker.engine_lock import EngineLock
from services.worker.housekeeping import Housekeeping
from services.worker.live_logs import LiveLogs
from services.worker.logs import CappedLog
from services.worker.results import store_outcome
from services.worker.run_spec import EngineError, RunOutcome, RunSpec, image_tag

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Slot:
    """A job this worker runs, and what the loop and the job's thread share about it."""

    job: JobRecord
    logs: LiveLogs
    cancel: threading.Event = field(default_factory=threading.Event)
    # Set by the loop when the lease is gone: the thread stops and stores nothing.
    lost: threading.Event = field(default_factory=threading.Event)
    # Set by the thread once it stores the result: no more lease or log writes for it.
    storing: threading.Event = field(default_factory=threading.Event)
    future: Future[str] | None = None

    @property
    def held(self) -> Held:
        return Held(self.job.id, self.job.attempt)


class JobThread:
    """Runs one job at a time per call of `execute`; the worker calls it from each job thread."""

    def __init__(
        self,
        cfg: Settings,
        pool: db.Pool,
        docker_client: docker.DockerClient,
        engine: EngineLock,
        housekeeping: Housekeeping,
    ) -> None:
        self._cfg = cfg
        self._pool = pool
        self._docker = docker_client
        self._engine = engine
        self._housekeeping = housekeeping

    def execute(self, slot: Slot) -> str:
        """Run the job and store its result; returns how it ended, for the log."""
        job = slot.job
        try:
            with tempfile.TemporaryDirectory(prefix=f"dccf-job-{job.id}-") as tmp:
                try:
                    outcome = self._run(slot, Path(tmp))
                except EngineError as exc:
                    # The daemon went away under the job (its pod is being deleted, or it
                    # crashed): no fault of the job's. Its lease runs out and the sweeper
                    # queues it again, for this worker or another.
                    log.error(
                        "job %d: left to its lease; the Docker engine failed: %s", job.id, exc
                    )
                    return "engine failed"
                if slot.lost.is_set():
                    return "lost"
                slot.storing.set()
                stored = self._retry_db(
                    lambda: store_outcome(self._pool, job.id, job.attempt, outcome),
                    f"storing the result of job {job.id}",
                )
        finally:
            self._housekeeping.discard(image_tag(job.id, job.attempt))
        ended = f"{outcome.status} {outcome.reason or ''}".strip()
        if stored:
            log.info("job %d: %s", job.id, ended)
        return ended if stored else "lost"

    def _run(self, slot: Slot, workdir: Path) -> RunOutcome:
        job = slot.job
        try:
            with self._context(job.id, workdir) as context:
                return runner.run_job(
                    self._docker,
                    self._spec(job),
                    context,
                    workdir,
                    slot.cancel,
                    slot.logs,
                    self._engine,
                )
        except EngineError:
            raise
        except Exception as exc:  # the job ends internal_error; the worker goes on
            log.exception("job %d: internal error", job.id)
            return _internal_error(exc)

    def _context(self, job_id: int, workdir: Path) -> IO[bytes]:
        """The stored build context, spooled to a local file so the build can stream it.

        A Postgres outage while reading it is waited out: it is no fault of the job's, which
        must not end `failed` for it.
        """
        return self._retry_db(
            lambda: self._spool_context(job_id, workdir),
            f"reading the build context of job {job_id}",
        )

    def _spool_context(self, job_id: int, workdir: Path) -> IO[bytes]:
        spool = tempfile.TemporaryFile(dir=workdir)  # noqa: SIM115 - the caller closes it
        try:
            with self._pool.connection() as conn:
                stored = filestore.find(conn, job_id, FileKind.CONTEXT, CONTEXT_PATH)
            if stored is None:
                raise RuntimeError(f"job {job_id} has no stored build context")
            for chunk in filestore.chunks(self._pool, stored.id):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _spec(self, job: JobRecord) -> RunSpec:
        limits = self._cfg.limits
        return RunSpec(
            job_id=job.id,
            attempt=job.attempt,
            limits=job.limits,
            build_args=job.build_args,
            pids_limit=limits.pids,
            log_cap_bytes=limits.log_cap_bytes,
            max_output_bytes=limits.max_output_bytes,
            worker=self._cfg.worker.worker_id,
        )

    def _retry_db(self, action: Callable[[], T], what: str) -> T:
        """Postgres outages are waited out: a result or a context read must not be dropped.

        Retries come at least every third of a lease, so a result is stored well within the
        master's grace after an outage, before the job would count as lost.
        """
        return retry(
            action,
            on=db.DatabaseUnavailable,
            backoff=Backoff(first=0.5, cap=min(10.0, self._cfg.worker.lease_seconds / 3)),
            on_failure=lambda exc, delay: log.warning(
                "%s: Postgres unavailable, retrying in %.1f s: %s", what, delay, exc
            ),
        )


def _internal_error(exc: BaseException) -> RunOutcome:
    message = f"DCCF worker error: {type(exc).__name__}: {exc}\n".encode()
    empty = CappedLog(b"", 0)
    return RunOutcome(
        status=JobStatus.FAILED,
        reason=Reason.INTERNAL_ERROR,
        exit_code=None,
        build_log=CappedLog(message, 0),
        stdout=empty,
        stderr=empty,
        outputs=[],
    )
