"""A dozen clients submitting at the same instant each get their own job and their own output."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .api import created, expect, output_bytes, outputs, submit, wait_terminal
from .forms import job_parts

pytestmark = pytest.mark.e2e

CLIENTS = 12
DOCKERFILE = """\
FROM debian:bookworm-slim
COPY token.txt /token.txt
CMD ["/bin/sh", "-c", "cp /token.txt /output/token.txt && hostname > /output/host.txt"]
"""


def test_concurrent_submissions_complete_with_their_own_outputs(client: httpx.Client) -> None:
    tokens = [f"{n:02d}-{uuid.uuid4()}\n".encode() for n in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)

    def submit_one(n: int) -> int:
        parts = job_parts(DOCKERFILE, {"token.txt": tokens[n]}, name=f"concurrent-{n:02d}")
        barrier.wait(timeout=60)
        return created(submit(client, parts))["id"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(submit_one, range(CLIENTS)))
    assert len(set(ids)) == CLIENTS, f"job ids collide: {ids}"

    for job_id, token in zip(ids, tokens, strict=True):
        job = wait_terminal(client, job_id)
        expect(client, job, "succeeded")
        assert set(outputs(client, job_id)) == {"token.txt", "host.txt"}
        assert output_bytes(client, job_id, "token.txt") == token, f"job {job_id} got another's"
