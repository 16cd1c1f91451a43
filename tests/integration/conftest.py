"""Integration fixtures: the real Postgres, Kafka and Docker of the local stack.

Started by `scripts/dev up` (its `env` command prints the DCCF_* variables). A missing
service fails the tests with a message saying so; it never skips them.

Each test module gets a database and a topic of its own: the stack's master and workers never
see its jobs, and it never sees theirs.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from job_runs import Run, assert_cleaned_up, make_context, make_spec, tidy
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError
from starlette.testclient import TestClient

from dccf import db, schema, settings
from dccf.settings import Settings
from services.master.app import create_app
from services.worker.engine_lock import EngineLock
from services.worker.housekeeping import Housekeeping
from services.worker.live_logs import LiveLogs
from services.worker.run_spec import RunOutcome, RunSpec
from services.worker.runner import run_job

pytestmark = pytest.mark.integration

_HINT = "start the local stack first: scripts/dev up (or run scripts/dev test)"


@pytest.fixture(scope="module")
def cfg() -> Iterator[Settings]:
    base = settings.load()
    suffix = uuid.uuid4().hex[:8]
    name = f"dccf_it_{suffix}"
    try:
        admin_db = db.connect(base.postgres, "dccf-integration-setup")
    except db.DatabaseUnavailable as exc:
        pytest.fail(f"Postgres is not reachable: {exc}; {_HINT}")
    admin_db.run(f"CREATE DATABASE {name}")
    kafka = dataclasses.replace(base.kafka, topic=f"dccf-it-{suffix}")
    try:
        admin = KafkaAdminClient(bootstrap_servers=kafka.servers, request_timeout_ms=10000)
    except KafkaError as exc:
        pytest.fail(f"Kafka is not reachable at {kafka.bootstrap}: {exc}; {_HINT}")
    admin.create_topics([NewTopic(kafka.topic, num_partitions=2, replication_factor=1)])
    try:
        yield dataclasses.replace(
            base,
            postgres=dataclasses.replace(base.postgres, database=name),
            kafka=kafka,
            # Tests call the sweeper themselves; the app's own must not race them.
            master=dataclasses.replace(base.master, sweep_seconds=3600.0),
        )
    finally:
        admin.delete_topics([kafka.topic])
        admin.close()
        admin_db.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin_db.close()


@pytest.fixture(scope="module")
def pool(cfg: Settings) -> Iterator[db.Pool]:
    pool = db.Pool(cfg.postgres, "dccf-integration-tests")
    with pool.connection() as conn:
        schema.migrate(conn)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    cfg = settings.load()
    try:
        client = (
            docker.DockerClient(base_url=cfg.worker.docker_host)
            if cfg.worker.docker_host
            else docker.from_env()
        )
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"the Docker engine is not reachable: {exc}; {_HINT}")
    return client


@pytest.fixture(scope="module")
def api(cfg: Settings, pool: db.Pool) -> Iterator[TestClient]:
    with TestClient(create_app(cfg)) as client:
        yield client


@pytest.fixture(scope="session")
def engine() -> EngineLock:
    """The lock every worker on the engine shares, as a worker would take it."""
    return EngineLock(settings.load().worker.docker_host)


@pytest.fixture
def housekeeping(docker_client: docker.DockerClient, engine: EngineLock) -> Housekeeping:
    return Housekeeping(docker_client, engine, "runner-tests", prune_threshold_bytes=10**15)


@pytest.fixture
def run(
    docker_client: docker.DockerClient,
    engine: EngineLock,
    housekeeping: Housekeeping,
    tmp_path: Path,
) -> Iterator[Run]:
    """Run a Dockerfile as a job, as the worker does; afterwards check that nothing of the
    job is left once the engine is tidied."""
    specs: list[RunSpec] = []

    def _run(
        dockerfile: str,
        spec: RunSpec | None = None,
        cancelled: threading.Event | None = None,
        files: dict[str, bytes] | None = None,
    ) -> RunOutcome:
        spec = spec or make_spec()
        specs.append(spec)
        try:
            return run_job(
                docker_client,
                spec,
                make_context(dockerfile, files),
                tmp_path,
                cancelled or threading.Event(),
                LiveLogs(spec.log_cap_bytes),
                engine,
            )
        finally:
            housekeeping.discard(spec.tag)

    yield _run
    tidy(housekeeping)
    for spec in specs:
        assert_cleaned_up(docker_client, spec)
