"""Ends a worker whose main loop has stopped moving.

kafka-python 3.0's consumer was seen to block forever inside poll() after a rebalance (its
caller waiting on an I/O thread that had nothing left to do): the worker looked alive but
took no jobs. A worker that exits gets restarted (Kubernetes, `scripts/dev up`); one that
hangs silently does not. Its claimed job, if any, is recovered by the sweeper.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def watch(
    progress_at: Callable[[], float],
    limit_seconds: float,
    on_stall: Callable[[float], None],
    check_every: float = 1.0,
) -> threading.Event:
    """Call `on_stall(seconds)` once `progress_at()` (a monotonic time) is older than the limit.

    Returns an event that stops the watch when set.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(check_every):
            stalled = time.monotonic() - progress_at()
            if stalled > limit_seconds:
                on_stall(stalled)
                return

    threading.Thread(target=loop, name="watchdog", daemon=True).start()
    return stop
