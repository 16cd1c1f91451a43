"""One progress line per step, and failures that show the failing component's log.

A user watching `scripts/dev up` should see what is happening and, when something breaks, the
lines of the log that explain it, without having to look for the file.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path

TAIL_LINES = 30


class StackError(Exception):
    """A step of the stack failed; `log` is the component log to show the user."""

    def __init__(self, component: str, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.component = component
        self.message = message
        self.log = log


def say(component: str, message: str, started: float | None = None) -> None:
    took = f" ({time.monotonic() - started:.1f} s)" if started is not None else ""
    print(f"[dev] {component}: {message}{took}", flush=True)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except FileNotFoundError:
        return []


def fail(error: StackError, relative: str | None = None) -> None:
    print(f"[dev] {error.component}: FAILED: {error.message}", file=sys.stderr, flush=True)
    if error.log is None:
        return
    lines = tail(error.log)
    shown = relative or str(error.log)
    if not lines:
        print(f"[dev] (log {shown} is empty)", file=sys.stderr)
        return
    print(f"[dev] ---- last {len(lines)} lines of {shown} ----", file=sys.stderr)
    for line in lines:
        print(f"    {line}", file=sys.stderr)
    print("[dev] ----", file=sys.stderr, flush=True)
