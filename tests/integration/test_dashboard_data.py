"""The dashboard's reads on the real Postgres: live log following, the overview's numbers,
the job stream, the fragments' scoping, and resubmission."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
import time

import pytest
from job_runs import insert_job
from starlette.testclient import TestClient

from dccf import db, filestore, job_records, job_results
from dccf.filestore import FileKind
from dccf.jobs import LogStream
from dccf.settings import Settings
from services.master.app import create_app
from services.master.dashboard import overview
from services.master.dashboard.live_logs import LogFollower

pytestmark = pytest.mark.integration

TOKENS = {"ta": "alice", "tb": "bob"}
ALICE = {"Authorization": "Bearer ta"}
BOB = {"Authorization": "Bearer tb"}


def new_job(pool: db.Pool, principal: str = "", name: str | None = None) -> int:
    with pool.connection() as conn:
        job = insert_job(conn, principal=principal, name=name)
    return job.id


def store(pool: db.Pool, job_id: int, stream: LogStream, data: bytes, dropped: int = 0) -> None:
    with pool.connection() as conn:
        job_results.store_log(conn, job_id, stream, data, dropped)


def read(pool: db.Pool, follower: LogFollower, final: bool = False) -> list[tuple[str, str, bool]]:
    with pool.connection() as conn:
        return [(str(u.stream), u.text, u.reset) for u in follower.read(conn, final)]


def test_a_follower_sends_only_what_was_stored_since_its_last_read(pool: db.Pool) -> None:
    job_id = new_job(pool)
    follower = LogFollower(job_id)
    assert read(pool, follower) == []
    store(pool, job_id, LogStream.STDOUT, b"one\n")
    store(pool, job_id, LogStream.BUILD, b"built\n")
    assert sorted(read(pool, follower)) == [("build", "built\n", False), ("stdout", "one\n", False)]
    assert read(pool, follower) == []
    store(pool, job_id, LogStream.STDOUT, b"one\ntwo\n")
    assert read(pool, follower) == [("stdout", "two\n", False)]


def test_a_character_split_between_two_updates_arrives_whole(pool: db.Pool) -> None:
    job_id = new_job(pool)
    follower = LogFollower(job_id)
    text = "naïve café ✓\n".encode()
    store(pool, job_id, LogStream.STDERR, text[:3])  # ends inside "ï"
    first = read(pool, follower)
    store(pool, job_id, LogStream.STDERR, text)
    second = read(pool, follower)
    assert "".join(t for _, t, _ in first + second) == "naïve café ✓\n"


def test_a_log_capped_meanwhile_is_sent_again_whole(pool: db.Pool) -> None:
    job_id = new_job(pool)
    follower = LogFollower(job_id)
    store(pool, job_id, LogStream.STDOUT, b"x" * 100)
    read(pool, follower)
    capped = b"x" * 60 + b"\n[dccf: 90 bytes dropped]\n"
    store(pool, job_id, LogStream.STDOUT, capped, dropped=90)
    assert read(pool, follower) == [("stdout", capped.decode(), True)]


def test_the_overview_counts_one_principals_jobs_over_the_last_hour(pool: db.Pool) -> None:
    owner = "overview-owner"
    queued = new_job(pool, owner)
    running = new_job(pool, owner)
    done = [new_job(pool, owner) for _ in range(3)]
    new_job(pool, "someone-else")
    with pool.connection() as conn:
        conn.run(
            "UPDATE jobs SET queued_at = now() - interval '90 seconds' WHERE id = :id", id=queued
        )
        conn.run(
            "UPDATE jobs SET status = 'running', started_at = now(),"
            " queued_at = now() - interval '4 seconds' WHERE id = :id",
            id=running,
        )
        for job_id, status, minutes in zip(
            done, ["succeeded", "failed", "succeeded"], [0, 0, 5], strict=True
        ):
            conn.run(
                "UPDATE jobs SET status = :s, queued_at = now() - make_interval(mins => :m + 1),"
                " started_at = now() - make_interval(mins => :m) - interval '1 second',"
                " finished_at = now() - make_interval(mins => :m) WHERE id = :id",
                s=status,
                m=minutes,
                id=job_id,
            )
        conn.run(
            "UPDATE jobs SET finished_at = now() - interval '2 hours' WHERE principal = :p"
            " AND id = (SELECT max(id) FROM jobs WHERE principal = :p)",
            p="someone-else",
        )
        seen = overview.read(conn, owner)
    assert (seen.queued, seen.running) == (1, 1)
    assert seen.oldest_queued_seconds is not None and 89 < seen.oldest_queued_seconds < 150
    assert len(seen.minutes) == 60 and seen.minutes[-1].ago == 0
    assert (seen.total("succeeded"), seen.total("failed")) == (2, 1)
    assert (seen.minutes[-1].succeeded, seen.minutes[-1].failed) == (1, 1)
    assert seen.minutes[-6].succeeded == 1
    assert seen.total("started") == 4
    assert seen.minutes[-1].wait_max_seconds == pytest.approx(59, abs=2)


@pytest.fixture(scope="module")
def secured(cfg: Settings, pool: db.Pool):  # type: ignore[no-untyped-def]
    master = dataclasses.replace(cfg.master, api_tokens=TOKENS)
    with TestClient(create_app(dataclasses.replace(cfg, master=master))) as client:
        yield client


def test_the_job_list_fragment_shows_the_callers_jobs_only(
    secured: TestClient, pool: db.Pool
) -> None:
    mine = new_job(pool, "alice", name="alice <b>report</b>")
    theirs = new_job(pool, "bob", name="bob's secret")
    page = secured.get("/ui/fragments/jobs?name=REPORT", headers=ALICE)
    assert page.status_code == 200
    assert f'href="/ui/jobs/{mine}"' in page.text
    assert "alice &lt;b&gt;report&lt;/b&gt;" in page.text  # escaped, never markup
    assert f'href="/ui/jobs/{theirs}"' not in page.text and "secret" not in page.text
    assert secured.get(f"/ui/fragments/jobs/{theirs}", headers=ALICE).status_code == 404
    assert secured.get(f"/ui/fragments/jobs/{mine}", headers=ALICE).status_code == 200
    empty = secured.get("/ui/fragments/jobs?name=nothing-like-this", headers=ALICE)
    assert "No jobs match these filters" in empty.text
    bad = secured.get("/ui/fragments/jobs?status=lost", headers=ALICE)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"


def test_the_job_stream_sends_status_logs_and_end(secured: TestClient, pool: db.Pool) -> None:
    job_id = new_job(pool, "alice")
    store(pool, job_id, LogStream.STDOUT, b"all done\n")
    with pool.connection() as conn:
        conn.run(
            "UPDATE jobs SET status = 'succeeded', attempt = 1, started_at = now(),"
            " finished_at = now() WHERE id = :id",
            id=job_id,
        )
    assert secured.get(f"/ui/stream/jobs/{job_id}", headers=BOB).status_code == 404
    with secured.stream("GET", f"/ui/stream/jobs/{job_id}", headers=ALICE) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in body.strip().split("\n\n")
    ]
    assert [name for name, _ in events] == ["status", "log", "end"]
    assert events[0][1]["status"] == "succeeded"
    assert events[1][1] == {"stream": "stdout", "text": "all done\n", "reset": False}


def test_resubmit_copies_the_context_and_settings_into_a_new_queued_job(
    secured: TestClient, pool: db.Pool
) -> None:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = b"FROM debian:bookworm-slim\n"
        member = tarfile.TarInfo("Dockerfile")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    first = secured.post(
        "/v1/jobs",
        headers=ALICE,
        files=[("context", ("c.tar", context.getvalue()))],
        data={"name": "again", "memory_mb": "128", "build_args": '{"A": "1"}'},
    ).json()
    assert secured.post(f"/v1/jobs/{first['id']}/resubmit", headers=BOB).status_code == 404
    again = secured.post(f"/v1/jobs/{first['id']}/resubmit", headers=ALICE)
    assert again.status_code == 201
    second = again.json()
    assert again.headers["location"] == f"/v1/jobs/{second['id']}"
    assert second["id"] != first["id"] and second["status"] == "queued"
    assert (second["name"], second["limits"]) == (first["name"], first["limits"])
    with pool.connection() as conn:
        copied = filestore.listing(conn, second["id"], FileKind.CONTEXT)
        original = filestore.listing(conn, first["id"], FileKind.CONTEXT)
        assert job_records.get(conn, second["id"]).build_args == {"A": "1"}  # type: ignore[union-attr]
    assert [(f.path, f.size, f.sha256) for f in copied] == [
        (f.path, f.size, f.sha256) for f in original
    ]
    assert b"".join(filestore.chunks(pool, copied[0].id)) == b"".join(
        filestore.chunks(pool, original[0].id)
    )


def test_the_jobs_stream_names_the_callers_changed_and_new_jobs_only(
    secured: TestClient, pool: db.Pool
) -> None:
    mine = new_job(pool, "alice")
    theirs = new_job(pool, "bob")
    with secured.stream("GET", "/ui/stream/jobs", headers=ALICE) as response:
        lines = response.iter_lines()
        assert next(lines) == ": connected"
        with pool.connection() as conn:
            conn.run("UPDATE jobs SET status = 'cancelled' WHERE id IN (:a, :b)", a=mine, b=theirs)
        created = new_job(pool, "alice")
        seen: list[int] = []
        deadline = time.monotonic() + 30  # the stream says something at least every 15 s
        for line in lines:
            if line.startswith("data: "):
                seen += json.loads(line[6:])
            if created in seen or time.monotonic() > deadline:
                break
    assert mine in seen and created in seen and theirs not in seen
