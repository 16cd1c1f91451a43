"""Background processes identified by pidfiles that survive the `scripts/dev` that started them.

A pidfile holds the PID and, on a second line, the process start time from /proc: a PID that
the kernel reused for another program after a reboot is then never taken for ours (and never
signalled).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Spec:
    """How to run one component in the background and how to stop it."""

    name: str
    argv: Sequence[str]
    log: Path
    pidfile: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None


@dataclass(frozen=True)
class Stop:
    """How to stop one component: the signal that asks it to finish, and how long to wait."""

    name: str
    pidfile: Path
    signal: signal.Signals = signal.SIGTERM
    grace_seconds: float = 30.0


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def read_pid(pidfile: Path) -> int | None:
    """The PID in `pidfile` if that very process is still alive, else None."""
    try:
        lines = pidfile.read_text().split()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].isdigit():
        return None
    pid = int(lines[0])
    started = _start_time(pid)
    if started is None or (len(lines) > 1 and lines[1] != started):
        return None
    return pid


# Children of this run: kept so that they are reaped when they exit (no zombies while a
# `scripts/dev test` waits on them), and so that Python does not report them as leaked.
_children: dict[int, subprocess.Popen[bytes]] = {}


def alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    return _start_time(pid) is not None


def start(spec: Spec) -> int:
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.pidfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with spec.log.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd,
            user=spec.user,
            group=spec.user,
            extra_groups=[] if spec.user else None,
            start_new_session=True,
        )
    _children[process.pid] = process
    spec.pidfile.write_text(f"{process.pid}\n{_start_time(process.pid) or ''}\n")
    return process.pid


def stop(stops: Sequence[Stop]) -> dict[str, float]:
    """Signal every running component at once, wait for each up to its grace, then SIGKILL
    its process group.

    Returns how long each stopped component took. All are signalled first so that several
    workers each finishing a job do not add up their grace periods.
    """
    started = time.monotonic()
    pending: dict[str, tuple[Stop, int]] = {}
    for spec in stops:
        pid = read_pid(spec.pidfile)
        if pid is None:
            spec.pidfile.unlink(missing_ok=True)
            continue
        try:
            os.kill(pid, spec.signal)
        except ProcessLookupError:
            continue
        pending[spec.name] = (spec, pid)
    took: dict[str, float] = {}
    while pending:
        now = time.monotonic()
        for name, (spec, pid) in list(pending.items()):
            if not alive(pid):
                took[name] = now - started
            elif now - started > spec.grace_seconds:
                _kill_group(pid)
                took[name] = now - started
            else:
                continue
            spec.pidfile.unlink(missing_ok=True)
            del pending[name]
        time.sleep(0.1)
    return took


def _kill_group(pid: int) -> None:
    # Each component leads its own session, so its group holds its helpers (uvicorn workers,
    # containerd) too.
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_until(
    check: Callable[[], bool], pid: int, timeout: float, interval: float = 0.25
) -> str | None:
    """Poll `check` until it holds; returns None on success, else why it gave up."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive(pid):
            return "the process exited"
        if check():
            return None
        if time.monotonic() > deadline:
            return f"not ready after {timeout:.0f} s"
        time.sleep(interval)
