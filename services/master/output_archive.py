"""Streams a job's outputs as one tar.gz, a chunk at a time, never the whole archive.

The tar stream is written by hand (headers from TarInfo.tobuf, data, padding) through one
gzip compressor, because tarfile's writer copies a whole member before control returns.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator

from dccf.filestore import StoredFile

_BLOCK = tarfile.BLOCKSIZE


def tar_gz(
    files: list[StoredFile], chunks_of: Callable[[int], Iterator[bytes]], mtime: float
) -> Iterator[bytes]:
    """`chunks_of(file_id)` yields a stored file's bytes."""
    gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for stored in files:
        info = tarfile.TarInfo(stored.path)
        info.size = stored.size
        info.mode = 0o644
        info.mtime = int(mtime)
        header = gzip.compress(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if header:
            yield header
        for chunk in chunks_of(stored.id):
            out = gzip.compress(chunk)
            if out:
                yield out
        padding = gzip.compress(b"\0" * (-stored.size % _BLOCK))
        if padding:
            yield padding
    yield gzip.compress(b"\0" * (2 * _BLOCK)) + gzip.flush()
