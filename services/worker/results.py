"""Storing a run's outcome: logs, outputs and the terminal status in one fenced transaction."""

from __future__ import annotations

import logging

from dccf import db, filestore, job_results
from dccf.filestore import FileKind
from dccf.jobs import LogStream
from services.worker.run_spec import RunOutcome

log = logging.getLogger(__name__)


def store_outcome(pool: db.Pool, job_id: int, attempt: int, outcome: RunOutcome) -> bool:
    """Write everything or nothing; False if a newer attempt owns the job (we lost the lease)."""
    with pool.transaction() as conn:
        if not job_results.lock_attempt(conn, job_id, attempt):
            log.warning(
                "job %d attempt %d is no longer ours; its result is dropped", job_id, attempt
            )
            return False
        for stream, capped in (
            (LogStream.BUILD, outcome.build_log),
            (LogStream.STDOUT, outcome.stdout),
            (LogStream.STDERR, outcome.stderr),
        ):
            job_results.store_log(conn, job_id, stream, capped.data, capped.dropped)
        for output in outcome.outputs:
            with output.local_path.open("rb") as stream_in:
                filestore.store(conn, job_id, FileKind.OUTPUT, output.path, stream_in)
        return job_results.finish(
            conn, job_id, attempt, outcome.status, outcome.reason, outcome.exit_code
        )
