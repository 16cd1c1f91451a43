"""Exponential back-off: how long to wait before the next try of something that keeps failing.

Every retry loop of DCCF (Postgres or Kafka away, a webhook receiver down) waits by one of
these, so a long outage is never a busy loop and a short one is over quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    """`first`, then doubling up to `cap`; `reset` after a success."""

    first: float = 0.5
    cap: float = 10.0
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next = self.first

    def delay(self) -> float:
        """The wait before the next try; each call doubles the one after, up to the cap."""
        current = self._next
        self._next = min(self._next * 2, self.cap)
        return current

    def reset(self) -> None:
        self._next = self.first
