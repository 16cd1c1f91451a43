"""The jobs the benchmarks run, and running them through the stack's API.

Each job is a Dockerfile plus files. The direct baseline builds from the very tar the master
would store (its own `build_context`), so both paths hit the same layer cache.
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dccf import settings
from dccf.client import DccfClient, Job
from services.master.build_context import Upload, build_context

BASE = "debian:bookworm-slim"


@dataclass(frozen=True)
class JobSpec:
    dockerfile: str
    files: dict[str, bytes] = field(default_factory=dict)
    # What the job must leave under /output: path -> content.
    expected: dict[str, bytes] = field(default_factory=dict)

    def context_tar(self) -> bytes:
        """The build context exactly as the master stores it (sorted, mtime 0, mode 0644)."""
        tar = build_context(
            Upload("Dockerfile", io.BytesIO(self.dockerfile.encode())),
            [Upload(path, io.BytesIO(data)) for path, data in self.files.items()],
            None,
            settings.Limits(),
        )
        try:
            tar.file.seek(0)
            return tar.file.read()
        finally:
            tar.file.close()


TRIVIAL_PAYLOAD = b"dccf bench: trivial job output\n"

# A COPY gives the image a layer of its own (cached after the first build); CMD writes /output.
TRIVIAL = JobSpec(
    dockerfile=(
        f"FROM {BASE}\n"
        "COPY payload.txt /opt/bench/payload.txt\n"
        'CMD ["cp", "/opt/bench/payload.txt", "/output/result.txt"]\n'
    ),
    files={"payload.txt": TRIVIAL_PAYLOAD},
    expected={"result.txt": TRIVIAL_PAYLOAD},
)

BIG_OUTPUT = JobSpec(
    dockerfile=(
        f'FROM {BASE}\nCMD ["dd", "if=/dev/zero", "of=/output/big", "bs=1M", "count=1024"]\n'
    ),
)


def one_kib_dockerfile() -> str:
    """A trivial Dockerfile padded with comments to exactly 1,024 bytes."""
    head = f'FROM {BASE}\nCMD ["true"]\n'
    filler = "# padding so the Dockerfile is 1 KiB, like a small real one\n"
    text = head
    while len(text) + len(filler) <= 1024:
        text += filler
    return text + "#" * (1023 - len(text)) + "\n"


def nonce_job(run_label: str, nonce: str) -> JobSpec:
    """A job whose output is its own nonce; the LABEL (constant in one run) marks its containers.

    Only the COPY of the nonce misses the cache, so every job still builds in one short step.
    """
    return JobSpec(
        dockerfile=(
            f"FROM {BASE}\n"
            f'LABEL dccf.bench.run="{run_label}"\n'
            "COPY nonce.txt /opt/bench/nonce.txt\n"
            'CMD ["cp", "/opt/bench/nonce.txt", "/output/nonce.txt"]\n'
        ),
        files={"nonce.txt": nonce.encode()},
        expected={"nonce.txt": nonce.encode()},
    )


def submit(client: DccfClient, spec: JobSpec, name: str) -> Job:
    return client.submit(dockerfile=spec.dockerfile, files=spec.files, name=name)


def wait(client: DccfClient, job_id: int, timeout: float = 600) -> Job:
    """Long-poll until terminal; the master answers the moment the status changes."""
    return client.wait(job_id, timeout=timeout, poll_seconds=30)


def through_stack(client: DccfClient, spec: JobSpec, name: str) -> tuple[float, Job]:
    """Client-observed seconds from submit to a terminal status, and the final job."""
    started = time.perf_counter()
    job = wait(client, submit(client, spec, name)["id"])
    return time.perf_counter() - started, job


def check_outputs(client: DccfClient, job: Job, spec: JobSpec) -> str | None:
    """None if the job succeeded with exactly the expected outputs, else what is wrong."""
    if job["status"] != "succeeded":
        return f"job {job['id']} ended {job['status']} ({job.get('reason')})"
    listed = {f["path"]: f["size"] for f in client.outputs(job["id"])}
    want = {path: len(data) for path, data in spec.expected.items()}
    if listed != want:
        return f"job {job['id']} has outputs {listed}, expected {want}"
    with tempfile.TemporaryDirectory(prefix="dccf-bench-") as tmp:
        for path, data in spec.expected.items():
            got = client.download_output(job["id"], path, Path(tmp) / "out").read_bytes()
            if got != data:
                return f"job {job['id']}: {path} holds {got[:80]!r}, expected {data!r}"
    return None
