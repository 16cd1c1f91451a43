"""A lean HTTP load generator: N threads, each with one keep-alive `http.client` connection.

Request bodies are encoded once and reused, and http.client costs a fraction of what a
featureful client does per request, so on a 2-core machine the generator stays well below the
server it measures. Its own CPU use is reported with every run to show that it did.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# (method, path, body) for the i-th request of a run.
RequestFor = Callable[[int], tuple[str, str, bytes | None]]


@dataclass
class LoadRun:
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    job_ids: list[int]
    client_cpu_seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


class Target:
    def __init__(self, url: str, token: str | None, headers: dict[str, str] | None = None):
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"User-Agent": "dccf-bench", **(headers or {})}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=60)
        conn.connect()
        return conn


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type; files maps part -> (filename, data)."""
    boundary = "dccf-bench-boundary-7d41c0a2"
    chunks: list[bytes] = []
    for name, (filename, data) in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def drive(target: Target, total: int, clients: int, request_for: RequestFor) -> LoadRun:
    """Send `total` requests from `clients` threads as fast as answers come back."""
    tickets = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    job_ids: list[int] = []
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)

    def client() -> None:
        conn = target.connect()
        mine: list[float] = []
        my_ids: list[int] = []
        my_statuses: dict[int, int] = {}
        ready.wait()
        try:
            while (index := next(tickets, None)) is not None:
                method, path, body = request_for(index)
                started = time.perf_counter()
                try:
                    conn.request(method, target.prefix + path, body=body, headers=target.headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        errors.append(f"{method} {path}: {exc}")
                    conn.close()
                    conn = target.connect()
                    continue
                mine.append(time.perf_counter() - started)
                my_statuses[response.status] = my_statuses.get(response.status, 0) + 1
                if response.status == 201:
                    my_ids.append(json.loads(data)["id"])
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                job_ids.extend(my_ids)
                for status, count in my_statuses.items():
                    statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, name=f"load-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = time.process_time()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return LoadRun(seconds, latencies, statuses, job_ids, time.process_time() - cpu_before, errors)
