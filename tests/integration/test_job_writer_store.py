"""The group commit against real Postgres and Kafka: every answered submission is stored with
its own context and announced, and a failed batch stores nothing."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from kafka import KafkaConsumer, TopicPartition
from starlette.testclient import TestClient

from dccf import db, filestore, job_records, queue
from dccf.job_records import NewJob
from dccf.jobs import JobLimits
from dccf.settings import Limits, Settings
from services.master.build_context import Upload, build_context
from services.master.job_writer import JobWriter

pytestmark = pytest.mark.integration

LIMITS = JobLimits(60, 64, 1.0)


def new_job(name: str, data: bytes | None = None) -> NewJob:
    return NewJob(
        principal="writer-tests",
        name=name,
        limits=LIMITS,
        callback_url=None,
        build_args={"n": name},
        small_file=None if data is None else ("context", "context.tar", data),
    )


def job_count(pool: db.Pool) -> int:
    return int(pool.run("SELECT count(*) FROM jobs")[0][0])


def stored_context(pool: db.Pool, job_id: int) -> bytes:
    with pool.connection() as conn:
        stored = filestore.find(conn, job_id, "context", "context.tar")
    assert stored is not None, f"job {job_id} has no context"
    return b"".join(filestore.chunks(pool, stored.id))


def announced(cfg: Settings, wanted: set[int]) -> set[int]:
    """The ids among `wanted` with a notice on the module's topic (read for up to 20 s)."""
    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.servers, enable_auto_commit=False)
    partitions = [
        TopicPartition(cfg.kafka.topic, p)
        for p in consumer.partitions_for_topic(cfg.kafka.topic) or []
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    found: set[int] = set()
    for _ in range(40):
        for records in consumer.poll(timeout_ms=500).values():
            found.update(queue.decode(r.value) or 0 for r in records)
        if wanted <= found:
            break
    consumer.close()
    return wanted & found


def test_insert_many_keeps_the_order_and_gives_each_job_its_own_file(pool: db.Pool) -> None:
    jobs = [new_job(f"many-{i}", f"context {i}".encode()) for i in range(5)]
    jobs.insert(2, new_job("many-nofile"))
    with pool.connection() as conn:
        records = job_records.insert_many(conn, jobs)
        files = dict(
            conn.run(
                "SELECT f.job_id, c.data FROM files f JOIN file_chunks c ON c.file_id = f.id"
                " WHERE f.job_id = ANY(:ids)",
                ids=[r.id for r in records],
            )
        )
    assert [r.name for r in records] == [job.name for job in jobs]
    assert [r.build_args for r in records] == [job.build_args for job in jobs]
    assert files == {
        r.id: job.small_file[2] for r, job in zip(records, jobs, strict=True) if job.small_file
    }


def test_a_failed_batch_stores_none_of_its_jobs_and_fails_each_caller(
    pool: db.Pool, cfg: Settings
) -> None:
    notifier = queue.Notifier(cfg.kafka)
    writer = JobWriter(pool, notifier)
    before = job_count(pool)
    # Handed in before the writer starts, so the three form one batch; Postgres refuses the
    # NUL in the middle one's name.
    futures = [writer.submit(new_job(name)) for name in ("good-1", "bad-\x00", "good-2")]
    writer.start()
    errors = [future.exception(timeout=60) for future in futures]
    assert all(error is not None for error in errors), errors
    assert len({str(error) for error in errors}) == 1
    assert job_count(pool) == before

    after = writer.submit(new_job("after-the-failure")).result(timeout=60)
    writer.stop()
    notifier.close()
    assert job_count(pool) == before + 1
    assert announced(cfg, {after.id}) == {after.id}


def dockerfile_of(i: int) -> bytes:
    return f'FROM debian:bookworm-slim\nCMD ["echo", "{i}"]\n'.encode()


def context_of(i: int) -> bytes:
    tar = build_context(Upload("Dockerfile", io.BytesIO(dockerfile_of(i))), [], None, Limits())
    with tar.file:
        return tar.file.read()


def test_every_answered_concurrent_submit_is_stored_and_announced(
    api: TestClient, pool: db.Pool, cfg: Settings
) -> None:
    """8 clients, v1 and legacy alike: each answer names a job stored with its own context."""
    before = job_count(pool)
    lock = threading.Lock()
    answered: dict[int, bytes] = {}
    # The context the master builds from the same Dockerfile, sent on its own.
    expected = {i: context_of(i) for i in range(200)}

    def submit(i: int) -> None:
        dockerfile = dockerfile_of(i)
        if i % 2:
            response = api.post("/submit", files=[("dockerFile", ("Dockerfile", dockerfile))])
            job_id = response.json()
        else:
            response = api.post("/v1/jobs", files=[("dockerfile", ("Dockerfile", dockerfile))])
            job_id = response.json()["id"]
        assert response.status_code in (200, 201), response.text
        with lock:
            answered[job_id] = expected[i]

    with ThreadPoolExecutor(max_workers=8) as clients:
        list(clients.map(submit, range(200)))

    assert len(answered) == 200
    assert job_count(pool) == before + 200
    for job_id, context in answered.items():
        assert stored_context(pool, job_id) == context
    assert announced(cfg, set(answered)) == set(answered)
