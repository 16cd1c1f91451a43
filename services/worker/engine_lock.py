"""One lock per Docker engine, shared by every job and worker using that engine.

A build may take any image on the engine as a cache parent and start its next step's
container from it. If another job removed that image between two steps, the build failed with
`unable to find image "sha256:..."` (seen with 2 workers on one engine, 1 job in 20 at worst).
So builds hold the lock shared, from the build's start until the job's container exists (a
container pins its image), and image removal or pruning needs it exclusively: it is tried
without waiting and, when a build runs, put off until the engine is quiet.

It is an flock(2) on a file named after the engine's address, in the temporary directory:
one per engine for all worker processes on a host (the local stack runs several on one
engine); in Kubernetes each worker pod has an engine of its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class EngineLock:
    def __init__(self, engine: str, directory: str | None = None) -> None:
        key = hashlib.sha256((engine or "default").encode()).hexdigest()[:16]
        self.path = Path(directory or tempfile.gettempdir()) / f"dccf-engine-{key}.lock"

    @contextmanager
    def building(self) -> Iterator[None]:
        """Held shared while a build runs; as many builds as like may hold it at once."""
        # Each holder opens the file anew: flock locks belong to the open file, so two
        # threads of one process hold (and release) theirs independently.
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def quiet(self) -> Iterator[bool]:
        """Held exclusively if no build runs now: yields True, or False at once otherwise."""
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
            else:
                yield True
        finally:
            os.close(fd)

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
