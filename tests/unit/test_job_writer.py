"""The group commit's batching and failure path, with the database call replaced.

The real statement is proved against Postgres in tests/integration/test_job_writer_store.py;
here the order of events is under the test's control: what forms a batch, and when callers
hear back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from dccf.job_records import JobRecord, NewJob
from dccf.jobs import JobLimits, JobStatus
from services.master import job_writer
from services.master.job_writer import JobWriter, WriterStopped


class FakePool:
    @contextmanager
    def connection(self) -> Iterator[object]:
        yield object()


class RecordingNotifier:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.answered: list[list[bool]] = []  # at each hand-over: which callers had an answer
        self.futures: list[Any] = []

    def publish_many(self, job_ids: list[int]) -> None:
        self.answered.append([f.done() for f in self.futures])
        self.batches.append(job_ids)


def record(job_id: int, job: NewJob) -> JobRecord:
    return JobRecord(
        id=job_id,
        principal=job.principal,
        name=job.name,
        status=JobStatus.QUEUED,
        reason=None,
        exit_code=None,
        attempt=0,
        worker=None,
        cancel_requested=False,
        limits=job.limits,
        callback_url=None,
        build_args={},
        created_at=datetime.now(UTC),
        started_at=None,
        finished_at=None,
    )


def new_job(name: str) -> NewJob:
    return NewJob(
        principal="p", name=name, limits=JobLimits(60, 64, 1.0), callback_url=None, build_args={}
    )


class FakeInserts:
    """Stands in for `job_records.insert_many`: numbers the jobs, remembers each batch, and
    can hold a batch (`gate`) or fail one (`fail_batch`, counted from 1)."""

    def __init__(self, fail_batch: int | None = None) -> None:
        self.batches: list[list[str | None]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_batch = fail_batch
        self.next_id = 1

    def __call__(self, conn: object, jobs: list[NewJob]) -> list[JobRecord]:
        self.entered.set()
        self.gate.wait(timeout=30)
        self.batches.append([job.name for job in jobs])
        if len(self.batches) == self.fail_batch:
            raise RuntimeError("the batch failed")
        records = [record(self.next_id + i, job) for i, job in enumerate(jobs)]
        self.next_id += len(jobs)
        return records


@pytest.fixture
def inserts(monkeypatch: pytest.MonkeyPatch) -> FakeInserts:
    fake = FakeInserts()
    monkeypatch.setattr(job_writer.job_records, "insert_many", fake)
    return fake


def test_jobs_handed_in_while_a_batch_is_written_form_the_next_batch(
    inserts: FakeInserts,
) -> None:
    notifier = RecordingNotifier()
    writer = JobWriter(FakePool(), notifier)  # type: ignore[arg-type]
    writer.start()
    inserts.gate.clear()
    first = writer.submit(new_job("a"))
    assert inserts.entered.wait(timeout=30)
    rest = [writer.submit(new_job(name)) for name in "bcd"]
    notifier.futures = [first, *rest]
    inserts.gate.set()
    records = [future.result(timeout=30) for future in [first, *rest]]
    writer.stop()

    assert inserts.batches == [["a"], ["b", "c", "d"]]
    assert [(r.id, r.name) for r in records] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert notifier.batches == [[1], [2, 3, 4]]
    # Each caller hears back only after its batch's notices were handed over.
    assert notifier.answered == [[False] * 4, [True, False, False, False]]


def test_a_batch_is_at_most_max_batch_jobs(inserts: FakeInserts) -> None:
    writer = JobWriter(FakePool(), RecordingNotifier(), max_batch=2)  # type: ignore[arg-type]
    futures = [writer.submit(new_job(name)) for name in "abcde"]  # all queued before it starts
    writer.start()
    assert [f.result(timeout=30).name for f in futures] == list("abcde")
    writer.stop()
    assert inserts.batches == [["a", "b"], ["c", "d"], ["e"]]


def test_a_failed_batch_fails_each_of_its_callers_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inserts = FakeInserts(fail_batch=1)
    monkeypatch.setattr(job_writer.job_records, "insert_many", inserts)
    notifier = RecordingNotifier()
    writer = JobWriter(FakePool(), notifier)  # type: ignore[arg-type]
    failed = [writer.submit(new_job(name)) for name in "ab"]
    writer.start()
    for future in failed:
        with pytest.raises(RuntimeError, match="the batch failed"):
            future.result(timeout=30)
    later = writer.submit(new_job("c"))
    assert later.result(timeout=30).name == "c"
    writer.stop()
    assert inserts.batches == [["a", "b"], ["c"]]
    assert notifier.batches == [[1]]  # no notice for the failed batch


def test_a_caller_gone_before_its_batch_is_left_out(inserts: FakeInserts) -> None:
    writer = JobWriter(FakePool(), RecordingNotifier())  # type: ignore[arg-type]
    gone, kept = writer.submit(new_job("gone")), writer.submit(new_job("kept"))
    assert gone.cancel()
    writer.start()
    assert kept.result(timeout=30).name == "kept"
    writer.stop()
    assert inserts.batches == [["kept"]]


def test_stop_stores_what_was_handed_in_and_refuses_the_rest(inserts: FakeInserts) -> None:
    writer = JobWriter(FakePool(), RecordingNotifier())  # type: ignore[arg-type]
    writer.start()
    inserts.gate.clear()
    first = writer.submit(new_job("a"))
    assert inserts.entered.wait(timeout=30)
    second = writer.submit(new_job("b"))
    stopping = threading.Thread(target=writer.stop)
    stopping.start()
    inserts.gate.set()
    stopping.join(timeout=30)
    assert (first.result(timeout=1).name, second.result(timeout=1).name) == ("a", "b")
    with pytest.raises(WriterStopped, match="shutting down"):
        writer.submit(new_job("c"))
