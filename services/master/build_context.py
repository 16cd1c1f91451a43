"""The job's build context: the upload's file parts, checked against API.md's path rules and
written as one normalised, uncompressed tar.

The tar is deterministic (entries sorted, owner root, mode 0644 or 0755, mtime 0), so identical
submissions give identical bytes and Docker's layer cache hits. It holds regular files and the
context archive's own folders; Docker creates any other parent folder when it unpacks.

Memory stays bounded whatever the upload: data moves in chunks through temporary files that roll
to disk, and a context archive is read as a stream that stops at the upload cap, so a small
.tar.gz that expands enormously (a tar bomb) is refused after reading at most the cap.

The rules every entry obeys are in `context_entries`; reading the context archive is in
`context_archive`; this module puts the parts together and writes the tar.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from dataclasses import dataclass
from typing import IO

from dccf import settings
from services.master.context_archive import copy_exact, read_context
from services.master.context_entries import (
    DOCKERFILE,
    DOCKERFILE_PART,
    FILES_PART,
    Contents,
    File,
    check_path,
)

__all__ = ["ContextTar", "Upload", "build_context", "check_path"]

SPOOL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    filename: str
    file: IO[bytes]


@dataclass(frozen=True)
class ContextTar:
    file: IO[bytes]
    size: int
    paths: list[str]


def build_context(
    dockerfile: Upload | None,
    files: list[Upload],
    context: Upload | None,
    limits: settings.Limits,
) -> ContextTar:
    """Check every part against API.md's rules and write the job's build-context tar.

    Raises `InvalidInput` (400) for a rule broken and `PayloadTooLarge` (413) for a cap passed.
    The caller closes `ContextTar.file`.
    """
    contents = Contents(limits)
    if dockerfile is not None:
        contents.add_file(
            DOCKERFILE, File(DOCKERFILE_PART, dockerfile.file, 0, _size(dockerfile.file), 0o644)
        )
    for upload in files:
        path = check_path(upload.filename, "files path")
        contents.add_file(path, File(FILES_PART, upload.file, 0, _size(upload.file), 0o644))
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as staging:
        if context is not None:
            read_context(context.file, staging, contents, limits)
        entries = contents.finish()
        return _write_tar(entries)


def _write_tar(entries: list[tuple[str, File | None]]) -> ContextTar:
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        for path, file in entries:
            info = tarfile.TarInfo(path)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if file is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
                continue
            info.mode, info.size = file.mode, file.size
            out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
            file.source.seek(file.offset)
            copy_exact(file.source, out, file.size)
            out.write(tarfile.NUL * (-file.size % tarfile.BLOCKSIZE))
        # The end-of-archive marker. tarfile.TarFile.close() also pads to a 10 KiB record, a
        # habit of tape drives: it made a 1 KiB Dockerfile's context 10 KiB, written to
        # Postgres with every job. Readers stop at the marker (Docker's archive/tar included).
        out.write(tarfile.NUL * 2 * tarfile.BLOCKSIZE)
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    paths = [path for path, file in entries if file is not None]
    return ContextTar(file=out, size=size, paths=paths)


def _size(file: IO[bytes]) -> int:
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    return size
