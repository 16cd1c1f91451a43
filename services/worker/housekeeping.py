"""Keeping the worker's Docker engine tidy without pulling an image from under a build.

Each job leaves its image tag behind (the layers stay as build cache); the tags are removed,
the build cache pruned past a threshold, and a crashed run's leftovers cleared, only while
no build runs on the engine (`EngineLock.quiet`). Until then the work waits here and the worker
loop asks again each turn: asking costs one flock(2), and the engine is only asked once
the lock is had.
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

    def discard(self, tag: str) -> None:
        """Remove the image tag once no build runs; safe to call from any thread."""
        with self._guard:
            self._tags.add(tag)

    @property
    def waiting(self) -> bool:
        """Whether some tidying waits for a quiet engine."""
        with self._guard:
            return bool(self._tags) or time.monotonic() >= self._next_prune_check

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
        """Do what waits, if the engine is quiet now; never blocks on a build."""
        if not self.waiting:
            return
        prune_due = time.monotonic() >= self._next_prune_check
        with self._lock.quiet() as quiet:
            if not quiet:
                return
            self._remove_tags()
            if prune_due:
                self._next_prune_check = time.monotonic() + PRUNE_CHECK_EVERY_S
                self._prune_if_needed()

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

    def _prune_if_needed(self) -> int:
        """Drop dangling images and the builder cache once they pass the threshold; returns
        the bytes reclaimed."""
        try:
            usage = self._client.df()
            used = int(usage.get("LayersSize") or 0) + sum(
                int(entry.get("Size") or 0) for entry in usage.get("BuildCache") or []
            )
            if used <= self._threshold:
                return 0
            reclaimed = self._client.images.prune(filters={"dangling": True})
            builder = self._client.api.prune_builds()
        except ENGINE_ERRORS as exc:
            log.warning("pruning the Docker build cache failed; trying again later: %s", exc)
            return 0
        total = int(reclaimed.get("SpaceReclaimed") or 0)
        total += int(builder.get("SpaceReclaimed") or 0)
        log.info(
            "pruned the build cache (%d bytes in use, threshold %d): %d bytes reclaimed",
            used,
            self._threshold,
            total,
        )
        return total
