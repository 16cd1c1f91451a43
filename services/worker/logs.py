"""Capped capture of a log stream: keep the head, count what is dropped.

A job may print gigabytes; the worker must hold at most the cap per stream in memory, and the
user must still learn that (and how much) output was cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CappedLog:
    data: bytes
    dropped: int


def dropped_line(dropped: int) -> bytes:
    return f"\n[dccf: {dropped} bytes dropped]\n".encode()


class LogCapture:
    """Collects chunks up to `cap` bytes; everything past it is only counted."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self._kept = 0
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        room = self._cap - self._kept
        if room > 0 and chunk:
            piece = chunk[:room]
            self._parts.append(piece)
            self._kept += len(piece)

    def result(self, footer: bytes = b"") -> CappedLog:
        """The kept head, then the dropped line if anything was dropped, then `footer`.

        `footer` is the runner's own note (why a build failed, why a container did not start):
        it must survive the cap, so it is placed last and room is made for it. A cap smaller
        than the dropped line itself yields just that line.
        """
        data = b"".join(self._parts)
        if self._total + len(footer) <= self._cap:
            return CappedLog(data + footer, 0)
        # The marker must fit under the cap too, and its length depends on the count it shows,
        # so shrink the kept head until all fits (two rounds at most in practice).
        room = max(0, self._cap - len(footer))
        keep = min(room, self._total)
        while True:
            marker = dropped_line(self._total - keep)
            if keep + len(marker) <= room or keep == 0:
                break
            keep = max(0, room - len(marker))
        return CappedLog(data[:keep] + marker + footer, self._total - keep)


def capture(chunks: Iterable[bytes], cap: int, footer: bytes = b"") -> CappedLog:
    """Read a whole stream (to count it) while keeping at most `cap` bytes."""
    log = LogCapture(cap)
    for chunk in chunks:
        log.feed(chunk)
    return log.result(footer)
