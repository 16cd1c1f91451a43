"""The second OOM witness against the real engine: Docker 20.10 on cgroup v2 sometimes inspects
an OOM-killed container as OOMKilled false (moby#41929); its "oom" event must still count, and
a SIGKILL that was no OOM must not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container

from services.worker.container import oom_killed

pytestmark = pytest.mark.integration

IMAGE = "debian:bookworm-slim"


@pytest.fixture
def exited(docker_client: docker.DockerClient) -> Iterator[tuple[list[Container], float]]:
    made: list[Container] = []
    yield made, time.time()
    for container in made:
        container.remove(force=True)


def _run(
    client: docker.DockerClient, made: list[Container], command: list[str], kill: bool = False
) -> Container:
    container = client.containers.run(
        IMAGE, command, mem_limit="32m", memswap_limit="32m", network_mode="none", detach=True
    )
    made.append(container)
    if kill:
        container.kill()
    container.wait(timeout=60)
    container.reload()
    return container


def test_the_oom_event_counts_when_inspect_says_no(
    docker_client: docker.DockerClient, exited: tuple[list[Container], float]
) -> None:
    made, since = exited
    container = _run(docker_client, made, ["tail", "/dev/zero"])
    assert container.attrs["State"]["ExitCode"] == 137
    container.attrs["State"]["OOMKilled"] = False  # what the engine's race reports
    assert oom_killed(docker_client, container, since)


def test_a_sigkill_that_was_no_oom_is_not_one(
    docker_client: docker.DockerClient, exited: tuple[list[Container], float]
) -> None:
    made, since = exited
    container = _run(docker_client, made, ["sleep", "60"], kill=True)
    assert container.attrs["State"]["ExitCode"] == 137
    assert not oom_killed(docker_client, container, since)


def test_a_clean_exit_is_no_oom(
    docker_client: docker.DockerClient, exited: tuple[list[Container], float]
) -> None:
    made, since = exited
    container = _run(docker_client, made, ["true"])
    assert not oom_killed(docker_client, container, since)
