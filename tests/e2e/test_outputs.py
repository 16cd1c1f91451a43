"""Inputs land where the client put them; /output comes back listed and byte-exact."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from urllib.parse import quote

import httpx
import pytest

from .api import expect, output_bytes, outputs, submit
from .batch import Batch
from .forms import directory, job_parts, regular, tar
from .shapes import assert_error

pytestmark = pytest.mark.e2e

BLOB = random.Random(20261127).randbytes(300 * 1024)
NUMBERS = "".join(f"{n}\n" for n in range(1, 101))

TREE_DOCKERFILE = """\
FROM debian:bookworm-slim
COPY src/ /task/src/
COPY data/ /task/data/
CMD ["/bin/sh", "/task/src/main.sh"]
"""
TREE_MAIN = """\
#!/bin/sh
set -eu
. /task/src/lib/util.sh
mkdir -p /output/nested/deep /output/reports
cp /task/data/blob.bin /output/nested/deep/blob.bin
count_lines /task/data/input/numbers.txt > /output/count.txt
(cd /task && find . -type f | LC_ALL=C sort) > "/output/reports/inputs list.txt"
echo "tree job done"
"""
TREE_FILES: dict[str, bytes | str] = {
    "src/main.sh": TREE_MAIN,
    "src/lib/util.sh": 'count_lines() { wc -l < "$1"; }\n',
    "data/input/numbers.txt": NUMBERS,
    "data/blob.bin": BLOB,
}
TREE_OUTPUTS = {
    "nested/deep/blob.bin": BLOB,
    "count.txt": b"100\n",
    "reports/inputs list.txt": b"".join(f"./{path}\n".encode() for path in sorted(TREE_FILES)),
}

CONTEXT_GZ_DOCKERFILE = """\
FROM debian:bookworm-slim
COPY app/ /app/
CMD ["/bin/sh", "/app/run.sh"]
"""
CONTEXT_GZ = tar(
    [
        regular("Dockerfile", CONTEXT_GZ_DOCKERFILE),
        directory("app"),
        regular("app/run.sh", "cp /app/conf/settings.txt /output/settings.txt\n"),
        directory("app/conf"),
        regular("app/conf/settings.txt", "answer=42\n"),
    ],
    gzip=True,
)
CONTEXT_TAR = tar([regular("payload/greeting.txt", "hello from a plain tar\n")])
CONTEXT_TAR_DOCKERFILE = """\
FROM debian:bookworm-slim
ARG SUFFIX
COPY payload/greeting.txt /greeting.txt
RUN echo "$SUFFIX" >> /greeting.txt
CMD ["cp", "/greeting.txt", "/output/greeting.txt"]
"""

# The image brings its own /output, with files, not writable by the job's non-root user.
NONROOT_DOCKERFILE = """\
FROM debian:bookworm-slim
RUN mkdir -p /output/sub && echo stale > /output/stale.txt && echo stale > /output/sub/old.txt \\
    && chmod 0755 /output
COPY probe.sh /probe.sh
USER 1234:1234
CMD ["/bin/sh", "/probe.sh"]
"""
NONROOT_PROBE = """\
set -eu
found=$(ls -A /output | wc -l)
echo "$found" > /output/preexisting.txt
id -u > /output/uid.txt
"""

JOBS = {
    "tree": lambda client: submit(client, job_parts(TREE_DOCKERFILE, TREE_FILES)),
    "context_gz": lambda client: submit(
        client, job_parts(None, context=("context.tar.gz", CONTEXT_GZ))
    ),
    "context_tar": lambda client: submit(
        client,
        job_parts(
            CONTEXT_TAR_DOCKERFILE,
            context=("context.tar", CONTEXT_TAR),
            build_args='{"SUFFIX": "and a build arg"}',
        ),
    ),
    "nonroot": lambda client: submit(
        client, job_parts(NONROOT_DOCKERFILE, {"probe.sh": NONROOT_PROBE})
    ),
    "no_outputs": lambda client: submit(
        client, job_parts('FROM debian:bookworm-slim\nCMD ["true"]\n')
    ),
}


def _succeeded(client: httpx.Client, batch: Batch, name: str) -> int:
    job = batch.result(name)
    expect(client, job, "succeeded")
    return job["id"]


def _archive(client: httpx.Client, job_id: int) -> dict[str, bytes]:
    response = client.get(f"/v1/jobs/{job_id}/outputs.tar.gz")
    assert response.status_code == 200, response.text
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        for member in archive.getmembers():
            assert not member.name.startswith(("/", "./", "output/")), member.name
            assert member.isfile() or member.isdir(), f"unexpected member {member.name}"
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                members[member.name] = extracted.read()
    return members


def test_tree_job_sees_its_files_at_their_paths(client: httpx.Client, batch: Batch) -> None:
    job_id = _succeeded(client, batch, "tree")
    assert (
        output_bytes(client, job_id, quote("reports/inputs list.txt"))
        == (TREE_OUTPUTS["reports/inputs list.txt"])
    )


def test_output_listing_has_paths_sizes_and_hashes(client: httpx.Client, batch: Batch) -> None:
    job_id = _succeeded(client, batch, "tree")
    listing = outputs(client, job_id)
    assert set(listing) == set(TREE_OUTPUTS)
    for path, data in TREE_OUTPUTS.items():
        assert listing[path] == {
            "path": path,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


@pytest.mark.parametrize("path", sorted(TREE_OUTPUTS))
def test_single_file_download_is_byte_exact(client: httpx.Client, batch: Batch, path: str) -> None:
    job_id = _succeeded(client, batch, "tree")
    assert output_bytes(client, job_id, quote(path)) == TREE_OUTPUTS[path]


def test_archive_download_is_byte_exact(client: httpx.Client, batch: Batch) -> None:
    job_id = _succeeded(client, batch, "tree")
    assert _archive(client, job_id) == TREE_OUTPUTS


@pytest.mark.parametrize("path", ["missing.txt", "nested/deep", "..%2F..%2Fetc%2Fpasswd"])
def test_unknown_output_path_is_404(client: httpx.Client, batch: Batch, path: str) -> None:
    job_id = _succeeded(client, batch, "tree")
    assert_error(client.get(f"/v1/jobs/{job_id}/outputs/{path}"), 404)


def test_gzipped_context_with_its_own_dockerfile(client: httpx.Client, batch: Batch) -> None:
    job_id = _succeeded(client, batch, "context_gz")
    assert output_bytes(client, job_id, "settings.txt") == b"answer=42\n"


def test_plain_tar_context_with_dockerfile_part_and_build_args(
    client: httpx.Client, batch: Batch
) -> None:
    job_id = _succeeded(client, batch, "context_tar")
    assert output_bytes(client, job_id, "greeting.txt") == (
        b"hello from a plain tar\nand a build arg\n"
    )


def test_output_is_empty_and_writable_for_non_root_image_user(
    client: httpx.Client, batch: Batch
) -> None:
    job_id = _succeeded(client, batch, "nonroot")
    assert set(outputs(client, job_id)) == {"preexisting.txt", "uid.txt"}
    assert output_bytes(client, job_id, "preexisting.txt") == b"0\n"
    assert output_bytes(client, job_id, "uid.txt") == b"1234\n"


def test_job_without_outputs_has_empty_listing_and_archive(
    client: httpx.Client, batch: Batch
) -> None:
    job_id = _succeeded(client, batch, "no_outputs")
    assert outputs(client, job_id) == {}
    assert _archive(client, job_id) == {}
