"""Integration fixtures: the real Postgres, Kafka and Docker of the local stack.

Started by `scripts/dev up` (its `env` command prints the DCCF_* variables). A missing
service fails the tests with a message saying so; it never skips them.

Each test module gets a database, a topic and a consumer group of its own: the stack's
master and workers never see its jobs, and it never sees theirs.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import docker
import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError
from starlette.testclient import TestClient

from dccf import db, schema, settings
from dccf.settings import Settings
from services.master.app import create_app

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
    kafka = dataclasses.replace(
        base.kafka, topic=f"dccf-it-{suffix}", group=f"dccf-it-{suffix}", session_timeout_ms=6000
    )
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
