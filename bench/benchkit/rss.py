"""Peak resident memory of the stack's processes, sampled from /proc while a phase runs.

VmHWM alone is not enough: it is the peak since the process started, so it cannot say which
phase caused it. A thread reads VmRSS every 50 ms and keeps a peak per phase; VmHWM is read at
the end as the ground truth the sampling may have missed between two samples. A process is
counted with its descendants, so a master run with several uvicorn processes is summed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
INTERVAL_S = 0.05


def status_kib(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), or None if the process is gone."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc/<pid>/task/*/children."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        with contextlib.suppress(OSError):
            for task in (PROC / str(current) / "task").iterdir():
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def tree_kib(pid: int, key: str) -> int | None:
    values = [status_kib(p, key) for p in descendants(pid)]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class RssSampler:
    """Samples the named processes' tree RSS; `phase()` collects the peak of each in a phase."""

    targets: dict[str, int]
    interval: float = INTERVAL_S
    peaks: dict[str, dict[str, int | None]] = field(default_factory=dict)
    _current: dict[str, int | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with self._lock:
            self._current = {target: None for target in self.targets}
        self._sample()
        try:
            yield
        finally:
            self._sample()
            with self._lock:
                self.peaks[name] = dict(self._current)

    def hwm(self) -> dict[str, int | None]:
        """Each target's VmHWM (its tree summed): the peak since the process started."""
        return {name: tree_kib(pid, "VmHWM") for name, pid in self.targets.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        readings = {name: tree_kib(pid, "VmRSS") for name, pid in self.targets.items()}
        with self._lock:
            for name, value in readings.items():
                if value is not None:
                    previous = self._current.get(name)
                    self._current[name] = value if previous is None else max(previous, value)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` and its descendants, or None if it is gone."""
    total = None
    for member in descendants(pid):
        try:
            fields = (PROC / str(member) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
        total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS
    return total
