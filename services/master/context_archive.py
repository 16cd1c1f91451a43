"""Reading an uploaded context archive (.tar or .tar.gz) as a stream, into the context's entries.

Nothing of the archive is trusted: gzip is unpacked here so that every uncompressed byte counts
against the upload cap (a tar bomb stops there), tarfile's header parser is bounded, and every
member must be a regular file or a folder with a valid path.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from contextlib import nullcontext
from typing import IO, Protocol, Self

from dccf import settings
from services.master.context_entries import CONTEXT_ORIGIN, Contents, File, check_path, mib
from services.master.errors import InvalidInput, PayloadTooLarge

# tarfile reads a PAX or GNU long-name header whole into memory, and one header may introduce
# the next: both the size of one and the length of a chain must be bounded.
MAX_ARCHIVE_HEADER_BYTES = 1024 * 1024
MAX_HEADER_CHAIN_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_HEADER_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
}
# What a damaged archive or gzip stream raises while it is read.
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def read_context(
    raw: IO[bytes], staging: IO[bytes], contents: Contents, limits: settings.Limits
) -> None:
    """Copy the context archive's members into `staging`, recording them in `contents`."""
    raw.seek(0)
    compressed = raw.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC
    raw.seek(0)
    # Gzip is unpacked here rather than by tarfile's "r|*" so that every uncompressed byte is
    # counted, and so that only .tar and .tar.gz are taken.
    unpacked = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else nullcontext(raw)
    try:
        with unpacked as source:
            stream = _CappedReader(source, limits)
            # Stream mode only reads; typeshed asks every fileobj for write, seek and close too.
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=stream, mode="r|", tarinfo=_StrictTarInfo, encoding="utf-8"
            ) as archive:
                while (member := archive.next()) is not None:
                    _take_member(archive, member, staging, contents)
                    # tarfile keeps every member it has read, PAX headers and all: forget them.
                    archive.members.clear()
            # Reading to the end checks the gzip stream's length and CRC, within the same cap.
            stream.drain()
    except _ARCHIVE_ERRORS as exc:
        raise _unreadable(str(exc)) from None


def _take_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, staging: IO[bytes], contents: Contents
) -> None:
    if member.isdir():
        if member.name != ".":
            contents.add_dir(check_path(member.name, "context member"))
        return
    path = check_path(member.name, "context member")
    if member.type not in _FILE_TYPES:
        kind = _KINDS.get(member.type, "a special file")
        raise InvalidInput(
            f"context member {member.name!r} is {kind}; a context may hold only regular files "
            "and folders (no symbolic or hard links, devices or fifos)",
            code="unsafe_archive",
        )
    if member.size < 0:
        raise _unreadable(f"member {member.name!r} has a negative size")
    mode = 0o755 if member.mode & 0o111 else 0o644
    contents.add_file(path, File(CONTEXT_ORIGIN, staging, staging.tell(), member.size, mode))
    data = archive.extractfile(member)
    assert data is not None  # a regular file always has a data stream
    copy_exact(data, staging, member.size)


class _StrictTarInfo(tarfile.TarInfo):
    """tarfile's header parser without the trust a server cannot afford.

    tarfile ends an archive quietly at a damaged header (a truncated upload would lose its tail
    unnoticed), reads PAX and GNU long-name headers of any size into memory, and builds sparse
    maps of any length. Here the first is an error and the others are bounded or refused.
    `_proc_member` is the hook tarfile documents for subclasses; the sparse parsers are private.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(archive)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # private: not in typeshed
            raise  # a block of zeros: the archive's proper end
        except tarfile.HeaderError as exc:
            raise _unreadable(
                f"{exc} at byte {archive.offset}; is it damaged or cut short?"
            ) from None

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size < 0:
            raise _unreadable(f"a header with a negative size at byte {self.offset}")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse(self.name)
        if self.type in _HEADER_TYPES:
            chain = self.offset - archive.offset
            held = sum(len(key) + len(value) for key, value in archive.pax_headers.items())
            if (
                self.size > MAX_ARCHIVE_HEADER_BYTES
                or held + self.size > MAX_ARCHIVE_HEADER_BYTES
                or chain > MAX_HEADER_CHAIN_BYTES
            ):
                raise _unreadable(
                    f"extended headers at byte {self.offset} are larger than "
                    f"{mib(MAX_ARCHIVE_HEADER_BYTES)} or chained too long"
                )
        # The documented hook, which typeshed leaves out as private.
        member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return member

    def _proc_gnusparse_00(
        self, member: tarfile.TarInfo, pax_headers: dict[str, str], buf: bytes
    ) -> None:
        raise _sparse(pax_headers.get("GNU.sparse.name", member.name))

    def _proc_gnusparse_01(self, member: tarfile.TarInfo, pax_headers: dict[str, str]) -> None:
        raise _sparse(pax_headers.get("GNU.sparse.name", member.name))

    def _proc_gnusparse_10(
        self, member: tarfile.TarInfo, pax_headers: dict[str, str], archive: tarfile.TarFile
    ) -> None:
        raise _sparse(pax_headers.get("GNU.sparse.name", member.name))


def _unreadable(detail: str) -> InvalidInput:
    return InvalidInput(
        f"the context is not a readable .tar or .tar.gz archive ({detail})",
        code="invalid_archive",
    )


def _sparse(name: str) -> InvalidInput:
    return InvalidInput(
        f"context member {name!r} is a sparse file; create the archive without --sparse",
        code="unsafe_archive",
    )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CappedReader:
    """The uncompressed context, refused once it passes the upload cap."""

    def __init__(self, raw: _Readable, limits: settings.Limits) -> None:
        self._raw = raw
        self._cap = limits.max_upload_bytes
        self._read = 0

    def read(self, size: int) -> bytes:
        data = self._raw.read(min(size, CHUNK_BYTES) if size >= 0 else CHUNK_BYTES)
        self._read += len(data)
        if self._read > self._cap:
            raise PayloadTooLarge(
                f"the context archive expands to more than {mib(self._cap)}, the upload limit; "
                "send a smaller context"
            )
        return data

    def drain(self) -> None:
        while self.read(CHUNK_BYTES):
            pass


def copy_exact(source: IO[bytes], target: IO[bytes], size: int) -> None:
    left = size
    while left:
        chunk = source.read(min(left, CHUNK_BYTES))
        if not chunk:
            # In a context archive this is a truncated member (a 400, see _read_context); in an
            # upload the server's own temporary file changed under it.
            raise EOFError(f"data ended {left} bytes before its expected size of {size}")
        target.write(chunk)
        left -= len(chunk)
