"""`dccf-worker`: wait for the docker daemon, then run the worker loop until SIGTERM."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from types import FrameType

import docker
from docker.errors import DockerException

from dccf import db, settings
from dccf.backoff import Backoff, retry
from services.worker import watchdog
from services.worker.worker import Worker

log = logging.getLogger("dccf.worker")


def connect_docker(
    base_url: str, slots: int = 1, wait_seconds: float = 120.0
) -> docker.DockerClient:
    """The DinD sidecar may still be starting: wait for its daemon to answer."""
    # Each running job may hold four connections at once (build or wait, two log streams,
    # one more call); a full pool would open and throw away a connection per call.
    pool = max(10, 4 * slots + 2)

    def connect() -> docker.DockerClient:
        client = (
            docker.DockerClient(base_url=base_url, timeout=300, max_pool_size=pool)
            if base_url
            else docker.from_env(timeout=300, max_pool_size=pool)
        )
        client.ping()
        return client

    try:
        return retry(
            connect,
            on=(DockerException, OSError),
            backoff=Backoff(first=0.5, cap=2.0),
            deadline_seconds=wait_seconds,
            on_failure=lambda exc, delay: log.warning("waiting for the docker daemon: %s", exc),
        )
    except (DockerException, OSError) as exc:
        raise SystemExit(
            f"the docker daemon at {base_url or 'DOCKER_HOST/default'} does not answer: {exc};"
            " start it or set DCCF_DOCKER_HOST"
        ) from exc


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python narrates every connection at INFO; its warnings are what matter here.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    cfg = settings.load()
    slots = cfg.worker.slots
    # A connection per running job (its context, its result) and two for the loop.
    postgres = dataclasses.replace(cfg.postgres, pool_size=max(cfg.postgres.pool_size, slots + 2))
    worker = Worker(
        cfg, db.Pool(postgres, "dccf-worker"), connect_docker(cfg.worker.docker_host, slots)
    )
    signals = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info("signal %d: finishing the running jobs, then leaving", signum)
            worker.request_stop()
        else:
            log.warning("second signal: stopping now")
            sys.exit(1)

    def on_stall(seconds: float) -> None:
        log.critical(
            "the worker loop has not moved for %.0f s (a hung Kafka client?); exiting so it"
            " is restarted",
            seconds,
        )
        logging.shutdown()
        os._exit(70)

    watchdog.watch(lambda: worker.progress_at, cfg.worker.stall_seconds, on_stall)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s starting with %d slot(s)", cfg.worker.worker_id, slots)
    ran = worker.run()
    log.info("worker %s stopped after %d jobs", cfg.worker.worker_id, ran)


if __name__ == "__main__":
    main()
