"""Following a job with --wait: progress lines, then the outcome as text and exit code."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import TextIO

from dccf.cli.console import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    err,
    out,
    print_json,
)
from dccf.client import DccfClient, DccfError, Job, WaitTimeout, is_terminal
from dccf.human import human_duration, human_size
from dccf.jobs import JobStatus, LogStream, Reason

QUIET_LINE_SECONDS = 10
LOG_TAIL_LINES = 30


class Progress:
    """Prints a line on every status change, and a reminder when nothing changed for a while."""

    def __init__(self, job_id: int, stream: TextIO | None = None) -> None:
        self.job_id = job_id
        self.stream = stream
        self.started = time.monotonic()
        self.last_line = self.started
        self.last_status: str | None = None

    def __call__(self, job: Job) -> None:
        now = time.monotonic()
        status = job["status"]
        if status == self.last_status and now - self.last_line < QUIET_LINE_SECONDS - 0.5:
            return
        if status != self.last_status:
            detail = status
            if status == JobStatus.RUNNING and job.get("worker"):
                detail += f" on {job['worker']} (attempt {job.get('attempt', 1)})"
            elif job.get("reason"):
                detail += f": {job['reason']}"
        else:
            detail = f"still {status}"
        print(
            f"[{human_duration(now - self.started):>6}] job {self.job_id} {detail}",
            file=self.stream or sys.stderr,
            flush=True,
        )
        self.last_status = status
        self.last_line = now


def announce(client: DccfClient, job: Job, args: argparse.Namespace) -> int:
    """A new job: its id on stdout (for scripts), a sentence on stderr, then follow it."""
    job_id = job["id"]
    if args.wait:
        err(f"submitted job {job_id} to {client.url}; waiting for it")
    else:
        err(
            f"submitted job {job_id} ({job['status']}); follow it with: dccf status {job_id} --wait"
        )
        if args.json:
            print_json(job)
        else:
            out(str(job_id))
    return follow(client, job, args)


def follow(client: DccfClient, job: Job, args: argparse.Namespace) -> int:
    """With --wait: wait for the job, print the outcome, and turn it into the exit code."""
    if not args.wait:
        return EXIT_OK
    job_id = job["id"]
    progress = Progress(job_id)
    progress(job)
    if not is_terminal(job):
        try:
            job = client.wait(job_id, timeout=args.wait_timeout, on_progress=progress)
        except WaitTimeout as exc:
            err(f"dccf: {exc.message}; it keeps going: dccf status {job_id} --wait")
            if args.json:
                print_json(exc.job)
            return EXIT_JOB_FAILED
        except KeyboardInterrupt:
            err(f"dccf: stopped waiting; job {job_id} keeps going: dccf status {job_id} --wait")
            return EXIT_INTERRUPTED
    if args.json:
        print_json(job)
    else:
        out(_summary(job))
        _print_results(client, job)
    return EXIT_OK if job["status"] == JobStatus.SUCCEEDED else EXIT_JOB_FAILED


def _summary(job: Job) -> str:
    line = f"job {job['id']} {job['status']}"
    if job.get("reason") and job["reason"] != Reason.CANCELLED:
        line += f": {job['reason']}"
    seconds = _run_seconds(job)
    if seconds is not None:
        line += f" after {human_duration(seconds)}"
    if job.get("exit_code") is not None:
        line += f" (exit code {job['exit_code']})"
    return line


def _run_seconds(job: Job) -> float | None:
    if not job.get("started_at") or not job.get("finished_at"):
        return None
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    return (finished - started).total_seconds()


def _print_results(client: DccfClient, job: Job) -> None:
    """After a wait: what the job printed and wrote, or the end of the log that explains why not."""
    job_id = job["id"]
    try:
        if job["status"] == JobStatus.SUCCEEDED:
            out("--- stdout ---")
            text = client.logs(job_id, stream=LogStream.STDOUT)
            if text:
                out(text.rstrip("\n"))
            files = client.outputs(job_id)
            out(f"--- outputs: {len(files)} file(s) under /output ---")
            for item in files:
                out(f"{item['path']}  {human_size(item['size'])}")
            if files:
                out(f"download them with: dccf results {job_id} -o DIR")
            return
        if job["reason"] in {Reason.CANCELLED, Reason.WORKER_LOST, Reason.INTERNAL_ERROR}:
            return
        stream = LogStream.BUILD if job["reason"] == Reason.BUILD_FAILED else LogStream.STDERR
        text = client.logs(job_id, stream=stream)
        out(f"--- {stream} log, last {LOG_TAIL_LINES} lines (all logs: dccf logs {job_id}) ---")
        out(_tail(text, LOG_TAIL_LINES))
    except DccfError as exc:
        err(f"dccf: could not fetch job {job_id}'s logs or outputs: {exc.message}")


def _tail(text: str, lines: int) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept)
