"""Exponential back-off: how long to wait before the next try of something that keeps failing.

Every retry loop of DCCF (Postgres or Kafka away, a docker daemon starting, a webhook receiver
down, a master restarting under a waiting client) waits by one of these, so a long outage is
never a busy loop and a short one is over quickly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """`first`, then doubling up to `cap`, each wait less up to `jitter` of it at random (so
    peers that failed together do not retry together); `reset` after a success."""

    first: float = 0.5
    cap: float = 10.0
    jitter: float = 0.0
    rng: Callable[[], float] = random.random
    _failures: int = field(init=False, default=0)

    def after(self, failures: int) -> float:
        """The wait after `failures` failures in a row (counted from 1)."""
        # The exponent is bounded: 2.0 ** 1100 overflows a float.
        longest = min(self.cap, self.first * 2.0 ** min(max(failures, 1) - 1, 64))
        return longest * (1 - self.jitter * self.rng())

    def delay(self) -> float:
        """The wait before the next try; each call counts one more failure."""
        self._failures += 1
        return self.after(self._failures)

    def reset(self) -> None:
        self._failures = 0


def retry(
    action: Callable[[], T],
    *,
    on: type[Exception] | tuple[type[Exception], ...],
    backoff: Backoff,
    deadline_seconds: float | None = None,
    on_failure: Callable[[Exception, float], None] = lambda exc, delay: None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`action()`'s result, trying again after each failure of type `on`.

    `on_failure` sees each failure and the wait that follows it (to log it). With
    `deadline_seconds`, the failure after which the next try would start past the deadline is
    raised; without it, tries go on for ever.
    """
    deadline = None if deadline_seconds is None else clock() + deadline_seconds
    while True:
        try:
            return action()
        except on as exc:
            delay = backoff.delay()
            if deadline is not None and clock() + delay > deadline:
                raise
            on_failure(exc, delay)
            sleep(delay)
