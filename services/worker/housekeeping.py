"""Keeping the worker's Docker engine tidy without pulling an image from under a build.

Each job leaves its image tag behind (the layers stay as build cache); the tags are removed,
the build cache pruned past a threshold, and a crashed run's leftovers cleared, only while
no build runs on the engine (`EngineLock.quiet`). Until then the work waits here and is tried
again each second, in a thread of its own: trying costs one flock(2), and the engine is only
asked once the lock is had.
"""

from __future__ import annotations

import logging
import threading
import time

import docker
import docker.errors

from services.worker.engine_lock import EngineLock
from services.worker.run_spec import (
    ENGINE_ERRORS,
    LABEL_ATTEMPT,
    LABEL_JOB,
    LABEL_WORKER,
    image_tag,
)

log = logging.getLogger(__name__)

# Asking the daemon for its disk use takes 40-80 ms: not after every job.
PRUNE_CHECK_EVERY_S = 60.0


class Housekeeping:
    def __init__(
        self,
        client: docker.DockerClient,
        lock: EngineLock,
        worker: str,
        prune_threshold_bytes: int,
    ) -> None:
        self._client = client
        self._lock = lock
        self._worker = worker
        self._threshold = prune_threshold_bytes
        self._tags: set[str] = set()
        self._guard = threading.Lock()
        self._next_prune_check = 0.0
        self._prune_wanted = False

    def run(self, stop: threading.Event, every_seconds: float = 1.0) -> None:
        """Tidy every `every_seconds` until `stop` is set, then once more. Meant for a thread
        of its own: the engine's answers (`df` walks every layer) can take seconds on a busy
        engine, which the worker loop must not wait for."""
        while not stop.wait(every_seconds):
            self.tidy()
        self.tidy()

    def discard(self, tag: str) -> None:
        """Remove the image tag once no build runs; safe to call from any thread."""
        with self._guard:
            self._tags.add(tag)

    @property
    def waiting(self) -> bool:
        """Whether some tidying waits for a quiet engine."""
        with self._guard:
            due = time.monotonic() >= self._next_prune_check
            return bool(self._tags) or self._prune_wanted or due

    def remove_leftovers(self) -> int:
        """Remove the job containers this worker's crashed run left, and queue their images;
        on an engine shared by several workers (the local stack) the others' are spared.
        Returns how many containers were removed."""
        try:
            containers = self._client.containers.list(
                all=True, filters={"label": f"{LABEL_WORKER}={self._worker}"}
            )
            for container in containers:
                labels = container.labels
                if labels.get(LABEL_JOB, "").isdigit():
                    attempt = labels.get(LABEL_ATTEMPT, "1")
                    self.discard(image_tag(int(labels[LABEL_JOB]), int(attempt)))
                container.remove(v=True, force=True)
        except ENGINE_ERRORS as exc:
            log.warning("could not remove the containers an earlier run left: %s", exc)
            return 0
        if containers:
            log.info("removed %d containers an earlier run of this worker left", len(containers))
        return len(containers)

    def tidy(self) -> None:
        """Do what waits, while no build runs; never waits for a build."""
        if not self.waiting:
            return
        if time.monotonic() >= self._next_prune_check:
            self._next_prune_check = time.monotonic() + PRUNE_CHECK_EVERY_S
            # Reading the disk use takes no lock: it can take seconds, and builds go on.
            self._prune_wanted = self._over_threshold()
        with self._lock.quiet() as quiet:
            if not quiet:
                return
            self._remove_tags()
            if self._prune_wanted:
                self._prune()
                self._prune_wanted = False

    def _remove_tags(self) -> None:
        with self._guard:
            tags, self._tags = self._tags, set()
        for tag in tags:
            # `noprune` keeps the untagged parent layers, so an identical Dockerfile builds
            # from cache next time; pruning reclaims them once the disk fills.
            try:
                self._client.api.remove_image(tag, noprune=True)
            except docker.errors.NotFound:
                pass
            except ENGINE_ERRORS as exc:
                log.warning("could not remove image %s; trying again later: %s", tag, exc)
                self.discard(tag)

    def _over_threshold(self) -> bool:
        """Whether layers and the builder cache take more than the threshold."""
        try:
            usage = self._client.df()
        except ENGINE_ERRORS as exc:
            log.warning("could not read the Docker engine's disk use: %s", exc)
            return False
        used = int(usage.get("LayersSize") or 0) + sum(
            int(entry.get("Size") or 0) for entry in usage.get("BuildCache") or []
        )
        if used > self._threshold:
            log.info("the build cache takes %d bytes, over %d: pruning", used, self._threshold)
        return used > self._threshold

    def _prune(self) -> int:
        """Drop dangling images and the builder cache; returns the bytes reclaimed."""
        try:
            reclaimed = self._client.images.prune(filters={"dangling": True})
            builder = self._client.api.prune_builds()
        except ENGINE_ERRORS as exc:
            log.warning("pruning the Docker build cache failed; trying again later: %s", exc)
            return 0
        total = int(reclaimed.get("SpaceReclaimed") or 0)
        total += int(builder.get("SpaceReclaimed") or 0)
        log.info("pruned the build cache: %d bytes reclaimed", total)
        return total
