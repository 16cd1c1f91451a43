"""Tidying a Docker engine shared by many jobs: image tags removed and the build cache pruned
only while no build runs, leftovers of a crashed worker removed and nobody else's."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
from job_runs import BASE, Run, assert_cleaned_up, make_context, make_spec, tidy

from dccf.jobs import JobStatus
from services.worker.engine_lock import EngineLock
from services.worker.housekeeping import Housekeeping
from services.worker.live_logs import LiveLogs
from services.worker.run_spec import LABEL_JOB, RunOutcome
from services.worker.runner import run_job

pytestmark = pytest.mark.integration


def test_a_tag_is_not_removed_while_a_build_runs(
    docker_client: docker.DockerClient, engine: EngineLock, housekeeping: Housekeeping
) -> None:
    spec = make_spec()
    docker_client.images.get("debian:bookworm-slim").tag(spec.tag)
    housekeeping.discard(spec.tag)
    with engine.building():
        housekeeping.tidy()
        assert docker_client.images.list(name=spec.tag), "removed while a build held the engine"
        assert housekeeping.waiting
    tidy(housekeeping)
    assert docker_client.images.list(name=spec.tag) == []


def test_builds_share_the_engine_but_tidying_waits_for_all_of_them(engine: EngineLock) -> None:
    with engine.building(), engine.building(), engine.quiet() as quiet:
        assert not quiet
    with engine.quiet() as quiet:
        assert quiet
        # Nested: the same process asking again is refused too, so no thread of a worker
        # tidies while another of its threads builds.
        with engine.quiet() as again:
            assert not again


def test_many_identical_and_near_identical_builds_at_once_all_succeed(
    docker_client: docker.DockerClient,
    engine: EngineLock,
    housekeeping: Housekeeping,
    tmp_path: Path,
) -> None:
    """Jobs on one engine, each tidied as it ends (as workers do), while the others build
    from the same cache: a tag removed between two steps of another build failed it with
    `unable to find image "sha256:..."`."""
    seed = random.random()
    common = BASE + f"RUN echo {seed} > /seed\nRUN cat /seed > /copy\n"
    dockerfiles = [
        *([common + "CMD cat /copy\n"] * 6),
        *(common + f"RUN echo {i} > /extra\nCMD cat /copy /extra\n" for i in range(6)),
    ]

    def job(index: int) -> RunOutcome:
        spec = make_spec()
        workdir = tmp_path / str(index)
        workdir.mkdir()
        try:
            return run_job(
                docker_client,
                spec,
                make_context(dockerfiles[index]),
                workdir,
                threading.Event(),
                LiveLogs(spec.log_cap_bytes),
                engine,
            )
        finally:
            housekeeping.discard(spec.tag)
            housekeeping.tidy()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(job, range(len(dockerfiles))))
    failed = [o.build_log.data.decode()[-300:] for o in outcomes if o.status != "succeeded"]
    assert failed == []
    assert {o.stdout.data.split()[0] for o in outcomes} == {str(seed).encode()}
    tidy(housekeeping)


def test_remove_leftovers_of_one_worker_spares_the_others(
    docker_client: docker.DockerClient, engine: EngineLock
) -> None:
    mine, theirs = make_spec(), make_spec()
    for spec, worker in ((mine, "crashed-worker"), (theirs, "busy-worker")):
        docker_client.images.get("debian:bookworm-slim").tag(spec.tag)
        docker_client.containers.create(
            spec.tag,
            ["true"],
            labels={LABEL_JOB: str(spec.job_id), "dccf.attempt": "1", "dccf.worker": worker},
        )
    crashed = Housekeeping(docker_client, engine, "crashed-worker", prune_threshold_bytes=10**15)
    assert crashed.remove_leftovers() == 1
    tidy(crashed)
    assert_cleaned_up(docker_client, mine)
    survivors = docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_JOB}={theirs.job_id}"}
    )
    assert len(survivors) == 1
    busy = Housekeeping(docker_client, engine, "busy-worker", prune_threshold_bytes=10**15)
    assert busy.remove_leftovers() == 1
    tidy(busy)
    assert_cleaned_up(docker_client, theirs)


def test_the_build_cache_is_pruned_only_past_the_threshold(
    run: Run, docker_client: docker.DockerClient, engine: EngineLock, housekeeping: Housekeeping
) -> None:
    outcome = run(BASE + f"RUN echo {random.random()} > /cached\nCMD true\n")
    assert outcome.status is JobStatus.SUCCEEDED
    tidy(housekeeping)  # the job's tag gone, its layers are cache only
    cached = _cached_step(outcome)
    roomy = Housekeeping(docker_client, engine, "prune-test", prune_threshold_bytes=10**15)
    tidy(roomy)
    assert docker_client.images.get(cached)
    full = Housekeeping(docker_client, engine, "prune-test", prune_threshold_bytes=0)
    tidy(full)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(cached)
    assert docker_client.images.get("debian:bookworm-slim")


def _cached_step(outcome: RunOutcome) -> str:
    """The id of the RUN step's image, which the runner keeps as build cache."""
    lines = outcome.build_log.data.decode().splitlines()
    step = next(i for i, line in enumerate(lines) if "RUN echo" in line)
    return next(
        line.split()[-1]
        for line in lines[step:]
        if line.startswith(" ---> ") and "Running in" not in line
    )
