"""Copying a job's /output out of its container, as a stream, under a size cap.

`get_archive` hands over a tar of the whole directory; reading it with `tarfile` in stream mode
over the chunk iterator keeps memory flat however much the job wrote, and the tar headers give
each file's exact size, so the cap is enforced before a byte of the offending file is copied.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

ARCHIVE_ROOT = "output"
# Measured on a 1 GiB output: 64 KiB socket reads beat 1 MiB ones (the SDK joins small reads),
# while 1 MiB file copies cut Python overhead by half.
ARCHIVE_CHUNK = 64 * 1024
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class OutputFile:
    path: str
    size: int
    sha256: str
    local_path: Path


class OutputTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the job wrote more than {limit} bytes under /output")
        self.limit = limit


class ChunkReader:
    """The `read` that tarfile's stream mode needs, over an iterator of byte chunks.

    Short reads are fine for tarfile; handing back whole chunks avoids a copy per read.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._current = b""

    def read(self, size: int = -1) -> bytes:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._current = chunk
        if size < 0 or size >= len(self._current):
            data, self._current = self._current, b""
            return data
        data, self._current = self._current[:size], self._current[size:]
        return data


def output_path(member_name: str) -> PurePosixPath | None:
    """The path relative to /output of an archive member, or None if it must be skipped.

    Skipped: the root itself, anything outside `output/`, `..`, absolute names, control
    characters (they would break headers and listings downstream) and names that are not UTF-8.
    """
    parts = member_name.split("/")
    if parts[0] != ARCHIVE_ROOT:
        return None
    rest = [part for part in parts[1:] if part not in ("", ".")]
    if not rest or ".." in rest:
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in member_name):
        return None
    try:
        member_name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return PurePosixPath(*rest)


def collect_outputs(chunks: Iterator[bytes], dest: Path, max_bytes: int) -> list[OutputFile]:
    """Write the regular files of a `get_archive("/output")` stream under `dest`.

    Symlinks, hard links, devices and fifos are skipped: only bytes the job wrote count.
    Raises OutputTooLarge as soon as the running total passes `max_bytes`; `dest` is then
    removed, so nothing partial is left behind.
    """
    files: list[OutputFile] = []
    total = 0
    try:
        # Stream mode only reads; typeshed asks every fileobj for write, seek and close too.
        reader = ChunkReader(chunks)
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=reader, mode="r|", bufsize=ARCHIVE_CHUNK
        ) as archive:
            for member in archive:
                if not member.isreg():
                    continue
                relative = output_path(member.name)
                if relative is None:
                    continue
                total += member.size
                if total > max_bytes:
                    raise OutputTooLarge(max_bytes)
                source = archive.extractfile(member)
                assert source is not None, "a regular member always has a body"
                local = dest.joinpath(*relative.parts)
                files.append(_copy(source, local, relative))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return sorted(files, key=lambda f: f.path)


def _copy(source: IO[bytes], local: Path, relative: PurePosixPath) -> OutputFile:
    local.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with local.open("wb") as target:
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return OutputFile(relative.as_posix(), size, digest.hexdigest(), local)
