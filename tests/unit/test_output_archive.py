from __future__ import annotations

import hashlib
import io
import random
import tarfile
from collections.abc import Iterator

from dccf.filestore import StoredFile
from services.master.output_archive import tar_gz


def test_streamed_archive_holds_every_file_byte_exact() -> None:
    # Incompressible data, so the compressor has output to hand on as it goes.
    contents = {1: b"a" * 700, 2: b"", 3: random.Random(1).randbytes(1_280_000)}
    files = [
        StoredFile(1, "a.txt", 700, hashlib.sha256(contents[1]).hexdigest()),
        StoredFile(2, "empty", 0, hashlib.sha256(b"").hexdigest()),
        StoredFile(3, "deep/dir/data.bin", len(contents[3]), ""),
    ]

    def chunks_of(file_id: int) -> Iterator[bytes]:
        data = contents[file_id]
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    pieces = list(tar_gz(files, chunks_of, mtime=1_700_000_000))
    assert len(pieces) > 2  # streamed, not built whole
    with tarfile.open(fileobj=io.BytesIO(b"".join(pieces)), mode="r:gz") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == ["a.txt", "empty", "deep/dir/data.bin"]
        for member, stored in zip(members, files, strict=True):
            extracted = archive.extractfile(member)
            assert extracted is not None
            assert extracted.read() == contents[stored.id]
            assert member.mtime == 1_700_000_000


def test_no_outputs_is_a_valid_empty_archive() -> None:
    data = b"".join(tar_gz([], lambda _id: iter(()), mtime=0))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        assert archive.getmembers() == []
