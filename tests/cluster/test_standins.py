"""The local stand-in images honour every point of the upstream images' contract that the
infra program uses. Each point is one test, checked against the built image:

| image | point the program relies on (where in infra/) |
|---|---|
| apache/kafka | `/bin/bash` runs the start script (both `command`s) |
| apache/kafka | `/opt/kafka/bin/kafka-storage.sh format` formats KRaft storage |
| apache/kafka | `/opt/kafka/bin/kafka-server-start.sh CONFIG` runs a broker |
| apache/kafka | `/opt/kafka/bin/kafka-topics.sh` creates and describes topics (topic_job) |
| apache/kafka | `KAFKA_HEAP_OPTS` sets the JVM heap (both containers' env) |
| apache/kafka | uid 1000 owns `/var/lib/kafka/data`, a VOLUME (KAFKA_UID, DATA_MOUNT) |
| postgres | `POSTGRES_USER`, `POSTGRES_DB`, `POSTGRES_PASSWORD` make the database and its |
|          | password login over TCP; `PGDATA` says where the data goes (postgres_db) |
| postgres | runs as uid 999, its `postgres` user (POSTGRES_UID) |
| postgres | serves port 5432 on every address (POSTGRES_PORT, the Service) |
| postgres | `pg_isready` on PATH (the probes) |
| docker:dind | entrypoint `dockerd-entrypoint.sh` runs `dockerd ARGS` as given (worker_pool) |
| docker:dind | `sh`, `awk`, `mount` for dindSecurity=capabilities (REMOUNT_CGROUPS) |
| docker:dind | the `docker` CLI (startup probe); `/var/lib/docker` a VOLUME |
| docker:dind | `DOCKER_TLS_CERTDIR` may be empty (worker_pool env) |

Beyond the contract: the dind stand-in carries `debian:bookworm-slim` to load, as the jobs
cannot pull it here.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from localcluster import config

pytestmark = pytest.mark.cluster


def docker(
    *args: str, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def run(image: str, *command: str, user: str = "", env: dict[str, str] | None = None) -> str:
    flags = [f"--user={user}"] if user else []
    flags += [f"--env={key}={value}" for key, value in (env or {}).items()]
    return docker(
        "run", "--rm", "--network=none", *flags, "--entrypoint", command[0], image, *command[1:]
    ).stdout


def inspect(image: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    return found


# --- apache/kafka ---------------------------------------------------------------------------


def test_kafka_runs_its_scripts_with_bash() -> None:
    assert run(config.KAFKA_IMAGE, "/bin/bash", "-ec", "echo ok").strip() == "ok"


def test_kafka_storage_formats_kraft_storage() -> None:
    script = (
        "printf 'process.roles=broker,controller\\nnode.id=0\\n"
        "controller.quorum.voters=0@localhost:9093\\ncontroller.listener.names=CONTROLLER\\n"
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\\nlog.dirs=/var/lib/kafka/data/logs\\n'"
        " > /tmp/server.properties\n"
        'id="$(/opt/kafka/bin/kafka-storage.sh random-uuid)"\n'
        '/opt/kafka/bin/kafka-storage.sh format --cluster-id "$id" \\\n'
        "    --config /tmp/server.properties\n"
        "cat /var/lib/kafka/data/logs/meta.properties\n"
    )
    out = run(config.KAFKA_IMAGE, "/bin/bash", "-ec", script, user="1000:1000")
    assert "cluster.id=" in out and "node.id=0" in out, out


def test_kafka_server_start_and_topics_scripts_are_there() -> None:
    for script in ("kafka-server-start.sh", "kafka-topics.sh", "kafka-storage.sh"):
        run(config.KAFKA_IMAGE, "/bin/bash", "-ec", f"test -x /opt/kafka/bin/{script}")
    out = run(config.KAFKA_IMAGE, "/opt/kafka/bin/kafka-topics.sh", "--version")
    assert out.strip().startswith("4."), out


def test_kafka_heap_opts_set_the_heap() -> None:
    out = run(
        config.KAFKA_IMAGE,
        "/opt/kafka/bin/kafka-storage.sh",
        "random-uuid",
        env={"KAFKA_HEAP_OPTS": "-Xmx77m -XX:+PrintCommandLineFlags"},
    )
    assert f"-XX:MaxHeapSize={77 * 1024 * 1024}" in out, out


def test_kafka_runs_as_uid_1000_owning_its_data_volume() -> None:
    cfg = inspect(config.KAFKA_IMAGE)
    assert "/var/lib/kafka/data" in (cfg.get("Volumes") or {})
    out = run(config.KAFKA_IMAGE, "/bin/bash", "-ec", "id -u; stat -c %u /var/lib/kafka/data")
    assert out.split() == ["1000", "1000"], out


# --- postgres -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    name = f"dccf-standin-pg-{uuid.uuid4().hex[:8]}"
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--user",
        "999:999",
        "--env",
        "POSTGRES_USER=dccf",
        "--env",
        "POSTGRES_DB=jobs",
        "--env",
        "POSTGRES_PASSWORD=s3cret",
        "--env",
        "PGDATA=/var/lib/postgresql/data/pgdata",
        config.POSTGRES_IMAGE,
    )
    try:
        deadline = time.monotonic() + 120
        while (
            docker(
                "exec",
                name,
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-U",
                "dccf",
                "-d",
                "jobs",
                check=False,
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline, docker("logs", name).stdout
            time.sleep(1)
        yield name
    finally:
        docker("rm", "-f", "-v", name, check=False)


def psql_tcp(container: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    return docker(
        "exec",
        "--env",
        f"PGPASSWORD={password}",
        container,
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "dccf",
        "-d",
        "jobs",
        "-Atc",
        sql,
        check=False,
    )


def test_postgres_env_makes_user_database_and_password(postgres: str) -> None:
    done = psql_tcp(postgres, "s3cret", "select current_user, current_database()")
    assert done.stdout.strip() == "dccf|jobs", done.stderr
    assert psql_tcp(postgres, "wrong", "select 1").returncode != 0


def test_postgres_keeps_pgdata_where_told(postgres: str) -> None:
    done = psql_tcp(postgres, "s3cret", "show data_directory")
    assert done.stdout.strip() == "/var/lib/postgresql/data/pgdata", done.stderr


def test_postgres_serves_5432_on_every_address(postgres: str) -> None:
    done = psql_tcp(postgres, "s3cret", "show listen_addresses; show port")
    assert done.stdout.split() == ["*", "5432"], done.stderr


def test_postgres_runs_as_uid_999_with_pg_isready_on_path() -> None:
    out = run(config.POSTGRES_IMAGE, "sh", "-ec", "id -u postgres; command -v pg_isready")
    assert out.split()[0] == "999", out
    assert out.split()[1].endswith("/pg_isready"), out


# --- docker:dind ----------------------------------------------------------------------------


def test_dind_entrypoint_runs_dockerd_with_the_given_arguments() -> None:
    cfg = inspect(config.DIND_IMAGE)
    assert cfg["Entrypoint"] == ["dockerd-entrypoint.sh"]
    # Any other command runs as given: the entrypoint hands over to it.
    assert run(config.DIND_IMAGE, "dockerd-entrypoint.sh", "echo", "handed over").strip() == (
        "handed over"
    )
    # `dockerd ARGS` itself is proven by the cluster's workers, whose daemons start so.
    assert "--host" in run(config.DIND_IMAGE, "dockerd", "--help")


def test_dind_has_the_tools_of_the_capabilities_mode_and_the_probe() -> None:
    out = run(
        config.DIND_IMAGE,
        "sh",
        "-ec",
        "for c in sh awk mount docker dockerd; do command -v $c; done",
    )
    assert len(out.split()) == 5, out
    assert "/var/lib/docker" in (inspect(config.DIND_IMAGE).get("Volumes") or {})


def test_dind_accepts_an_empty_tls_certdir() -> None:
    env = {"DOCKER_TLS_CERTDIR": ""}
    out = run(config.DIND_IMAGE, "dockerd-entrypoint.sh", "sh", "-c", "echo ok", env=env)
    assert out.strip() == "ok"


def test_dind_carries_the_jobs_base_image() -> None:
    out = run(config.DIND_IMAGE, "sh", "-ec", "ls /usr/share/dccf/seed-images")
    assert "debian-bookworm-slim.tar" in out.split(), out
