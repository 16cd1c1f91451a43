from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dccf import queue
from dccf.job_records import JobRecord
from dccf.jobs import JobLimits, JobStatus, LogStream, Network, Reason
from services.master.job_json import job_json
from services.master.job_reads import render_logs


def make_job(**changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "id": 42,
        "principal": "",
        "name": "demo",
        "status": JobStatus.SUCCEEDED,
        "reason": None,
        "exit_code": 0,
        "attempt": 1,
        "worker": "w-1",
        "cancel_requested": False,
        "limits": JobLimits(3600, 512, 1.0, Network.NONE),
        "callback_url": None,
        "build_args": {},
        "created_at": datetime(2026, 11, 27, 19, 10, 27, 123456, tzinfo=UTC),
        "started_at": datetime(2026, 11, 27, 19, 10, 28, tzinfo=UTC),
        "finished_at": None,
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


def test_job_json_is_the_api_object() -> None:
    assert job_json(make_job(priority=7)) == {
        "id": 42,
        "name": "demo",
        "status": "succeeded",
        "priority": 7,
        "reason": None,
        "exit_code": 0,
        "attempt": 1,
        "worker": "w-1",
        "created_at": "2026-11-27T19:10:27Z",
        "started_at": "2026-11-27T19:10:28Z",
        "finished_at": None,
        "limits": {"timeout_seconds": 3600, "memory_mb": 512, "cpus": 1.0, "network": "none"},
        "callback_url": None,
        "links": {
            "self": "/v1/jobs/42",
            "logs": "/v1/jobs/42/logs",
            "outputs": "/v1/jobs/42/outputs",
            "archive": "/v1/jobs/42/outputs.tar.gz",
        },
    }


def test_failed_job_carries_its_reason() -> None:
    body = job_json(make_job(status=JobStatus.FAILED, reason=Reason.OOM_KILLED, exit_code=137))
    assert (body["status"], body["reason"], body["exit_code"]) == ("failed", "oom_killed", 137)


@pytest.mark.parametrize(
    ("status", "legacy", "terminal"),
    [
        (JobStatus.QUEUED, "SUBMITTED", False),
        (JobStatus.RUNNING, "PROCESSING", False),
        (JobStatus.SUCCEEDED, "COMPLETE", True),
        (JobStatus.FAILED, "ERROR", True),
        (JobStatus.CANCELLED, "ERROR", True),
    ],
)
def test_status_words(status: JobStatus, legacy: str, terminal: bool) -> None:
    assert status.legacy == legacy
    assert status.terminal is terminal


def test_notice_round_trip() -> None:
    assert queue.decode(queue.encode(7)) == 7


@pytest.mark.parametrize(
    "value", [b"", b"7", b"{}", b'{"job_id": "7"}', b'{"job_id": -1}', b"\xff"]
)
def test_foreign_records_are_ignored(value: bytes) -> None:
    assert queue.decode(value) is None


def test_logs_one_stream_or_all_under_headers() -> None:
    logs = {LogStream.STDOUT: b"hello\n", LogStream.STDERR: b"oops"}
    assert render_logs(logs, LogStream.STDOUT) == "hello\n"
    assert render_logs(logs, LogStream.BUILD) == ""
    assert render_logs(logs, None) == (
        "===== build =====\n===== stdout =====\nhello\n===== stderr =====\noops\n"
    )
