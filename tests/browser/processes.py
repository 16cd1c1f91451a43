"""Processes the browser tests start against the stack's own Postgres, Kafka and Docker: a
worker they can kill, and a master with API tokens. Each runs in its own process group and
is killed by its PID when the test ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@contextmanager
def own_worker(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A worker of its own id that takes none of the stack's jobs: its Kafka topic and group
    are its own, so it only heartbeats."""
    suffix = uuid.uuid4().hex[:8]
    worker_id = f"browser-worker-{suffix}"
    env = {
        "DCCF_WORKER_ID": worker_id,
        "DCCF_KAFKA_TOPIC": f"dccf-browser-{suffix}",
        "DCCF_HEARTBEAT_SECONDS": "1",
    }
    with process([str(BIN / "dccf-worker")], env, log_dir / f"{worker_id}.log") as proc:
        yield worker_id, proc


@contextmanager
def token_master(log_dir: Path, tokens: dict[str, str]) -> Iterator[str]:
    """A second master on a free port with API tokens (principal -> token), sharing the
    stack's Postgres and Kafka, so the stack's workers run its jobs. Yields its URL."""
    port = free_port()
    env = {
        "DCCF_PORT": str(port),
        "DCCF_API_TOKENS": ",".join(f"{who}:{token}" for who, token in tokens.items()),
    }
    url = f"http://127.0.0.1:{port}"
    with process([str(BIN / "dccf-master")], env, log_dir / f"master-{port}.log") as proc:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the token master did not get ready; see {log_dir}")
            time.sleep(0.3)
        yield url
