"""Which queued job a free slot takes, against the real Postgres, Kafka and Docker: priority
first, then round-robin between principals, then age; claims that never collide; every
worker busy whatever the partition count; several jobs at once in one worker's slots."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import docker
import pytest
from job_runs import insert_job
from starlette.testclient import TestClient

from dccf import db, dispatch
from dccf.settings import Settings
from services.master.app import create_app
from services.worker.worker import Worker

pytestmark = pytest.mark.integration

ALICE_TOKEN = "alice-" + uuid.uuid4().hex
BOB_TOKEN = "bob-" + uuid.uuid4().hex
ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
BOB = {"Authorization": f"Bearer {BOB_TOKEN}"}
QUICK = b"FROM debian:bookworm-slim\nCMD true\n"


@pytest.fixture(scope="module")
def client(cfg: Settings, pool: db.Pool) -> Iterator[TestClient]:
    tokens = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
    auth_cfg = dataclasses.replace(cfg, master=dataclasses.replace(cfg.master, api_tokens=tokens))
    with TestClient(create_app(auth_cfg)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def empty_queue(pool: db.Pool) -> Iterator[None]:
    """Each test starts and ends with nothing queued (the module shares one database)."""
    yield
    pool.run("UPDATE jobs SET status = 'cancelled' WHERE status = 'queued'")


def submit(
    client: TestClient, headers: dict[str, str], name: str, priority: int | None = None
) -> int:
    data = {"name": name} | ({} if priority is None else {"priority": str(priority)})
    response = client.post(
        "/v1/jobs", files=[("dockerfile", ("Dockerfile", QUICK))], data=data, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def started_order(pool: db.Pool, ids: list[int]) -> list[int]:
    """The jobs by when they started (to the microsecond: the API gives whole seconds)."""
    rows = pool.run(
        "SELECT id, status FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY started_at",
        ids=ids,
    )
    assert {row[1] for row in rows} == {"succeeded"}, rows
    return [int(row[0]) for row in rows]


def one_slot(cfg: Settings) -> Settings:
    return dataclasses.replace(cfg, worker=dataclasses.replace(cfg.worker, slots=1))


def test_higher_priority_first_then_oldest_first(
    client: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    low = submit(client, ALICE, "low", priority=-5)
    normal_1 = submit(client, ALICE, "normal-1")
    high = submit(client, ALICE, "high", priority=50)
    normal_2 = submit(client, ALICE, "normal-2", priority=0)
    worker = Worker(one_slot(cfg), pool, docker_client)
    assert worker.run(max_jobs=4, idle_timeout=60) == 4
    assert started_order(pool, [low, normal_1, high, normal_2]) == [
        high,
        normal_1,
        normal_2,
        low,
    ]
    job = client.get(f"/v1/jobs/{high}", headers=ALICE).json()
    assert job["priority"] == 50


def test_one_principals_long_queue_does_not_hold_back_anothers_job(
    client: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    alices = [submit(client, ALICE, f"alice-{i}") for i in range(30)]
    worker = Worker(one_slot(cfg), pool, docker_client)
    assert worker.run(max_jobs=1, idle_timeout=60) == 1  # alice's first, while bob has none
    bobs = submit(client, BOB, "bob-1")
    assert worker.run(max_jobs=2, idle_timeout=60) == 2
    # Bob's job took the next free slot, ahead of alice's 29 older queued ones.
    assert started_order(pool, [alices[0], alices[1], bobs]) == [alices[0], bobs, alices[1]]
    queued = client.get("/v1/jobs", params={"status": "queued", "limit": 200}, headers=ALICE)
    assert len(queued.json()["jobs"]) == 28


def test_round_robin_between_principals_with_queued_work(pool: db.Pool) -> None:
    """Three principals' queues drain in turns, one job each per round."""
    ids: dict[str, list[int]] = {"p1": [], "p2": [], "p3": []}
    with pool.connection() as conn:
        for principal, count in (("p1", 4), ("p2", 2), ("p3", 3)):
            for _ in range(count):
                ids[principal].append(_insert(conn, principal))
        claimed = []
        while (job := dispatch.claim_next(conn, "round-robin-test", 30)) is not None:
            claimed.append(job.principal)
    assert sorted(claimed) == sorted(["p1"] * 4 + ["p2"] * 2 + ["p3"] * 3)
    rounds = [claimed[0:3], claimed[3:6], claimed[6:8], claimed[8:]]
    assert [sorted(r) for r in rounds] == [
        ["p1", "p2", "p3"],
        ["p1", "p2", "p3"],
        ["p1", "p3"],
        ["p1"],
    ]


def test_concurrent_claims_never_take_one_job_twice(pool: db.Pool) -> None:
    with pool.connection() as conn:
        ids = {_insert(conn, f"p{i % 3}", priority=i % 2) for i in range(60)}

    def claim_all(worker: str) -> list[int]:
        got = []
        with pool.connection() as conn:
            while (job := dispatch.claim_next(conn, worker, 30)) is not None:
                got.append(job.id)
        return got

    with ThreadPoolExecutor(max_workers=6) as threads:
        results = list(threads.map(claim_all, [f"racer-{i}" for i in range(6)]))
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(ids)
    assert len(set(claimed)) == len(claimed)


def test_every_worker_gets_work_with_more_workers_than_partitions(
    client: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    """The module's topic has 2 partitions; 5 workers all run jobs."""
    count = 5
    workers = [
        Worker(
            dataclasses.replace(
                cfg, worker=dataclasses.replace(cfg.worker, worker_id=f"many-{i}", slots=1)
            ),
            pool,
            docker_client,
        )
        for i in range(count)
    ]
    # Long enough that no slot frees before every job is claimed.
    sleepy = b'FROM debian:bookworm-slim\nCMD ["sleep", "8"]\n'
    threads = [
        threading.Thread(target=w.run, kwargs={"max_jobs": 1, "idle_timeout": 10}) for w in workers
    ]
    for thread in threads:
        thread.start()
    ids = [
        client.post(
            "/v1/jobs", files=[("dockerfile", ("Dockerfile", sleepy))], headers=ALICE
        ).json()["id"]
        for _ in range(count)
    ]
    for thread in threads:
        thread.join(timeout=180)
    jobs = [client.get(f"/v1/jobs/{i}", headers=ALICE).json() for i in ids]
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    assert {job["worker"] for job in jobs} == {f"many-{i}" for i in range(count)}


def test_one_worker_runs_as_many_jobs_at_once_as_it_has_slots(
    client: TestClient, cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient
) -> None:
    sleepy = b'FROM debian:bookworm-slim\nCMD ["sleep", "4"]\n'
    ids = [
        client.post(
            "/v1/jobs", files=[("dockerfile", ("Dockerfile", sleepy))], headers=ALICE
        ).json()["id"]
        for _ in range(3)
    ]
    three = dataclasses.replace(cfg, worker=dataclasses.replace(cfg.worker, slots=3))
    assert Worker(three, pool, docker_client).run(max_jobs=3, idle_timeout=60) == 3
    jobs = [client.get(f"/v1/jobs/{i}", headers=ALICE).json() for i in ids]
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    assert {job["attempt"] for job in jobs} == {1}
    # All three ran at once: each started before any of them ended.
    last_start = max(datetime.fromisoformat(job["started_at"]) for job in jobs)
    first_end = min(datetime.fromisoformat(job["finished_at"]) for job in jobs)
    assert last_start < first_end, jobs


def test_list_by_priority_pages_through_in_order(client: TestClient) -> None:
    ids = [submit(client, BOB, f"order-{p}", priority=p) for p in (3, -3, 7, 0, 7)]
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        params = {"order": "priority", "limit": 2} | ({"before": cursor} if cursor else {})
        page = client.get("/v1/jobs", params=params, headers=BOB).json()
        seen += [(job["priority"], job["id"]) for job in page["jobs"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == sorted(seen, key=lambda pair: (-pair[0], -pair[1]))
    assert {job_id for _, job_id in seen} >= set(ids)
    only = client.get("/v1/jobs", params={"priority": 7}, headers=BOB).json()["jobs"]
    assert {job["priority"] for job in only} == {7}
    bad = client.get("/v1/jobs", params={"priority": 101}, headers=BOB)
    assert bad.status_code == 400
    refused = client.post(
        "/v1/jobs",
        files=[("dockerfile", ("Dockerfile", QUICK))],
        data={"priority": "500"},
        headers=BOB,
    )
    assert refused.status_code == 400
    assert "priority must be a whole number from -100 to 100" in refused.text


def _insert(conn: db.Connection, principal: str, priority: int = 0) -> int:
    return insert_job(conn, principal=principal, priority=priority).id
