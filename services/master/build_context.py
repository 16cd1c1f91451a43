"""The job's build context: the upload's file parts, checked against API.md's path rules and
written as one normalised, uncompressed tar.

The tar is deterministic (entries sorted, owner root, mode 0644 or 0755, mtime 0), so identical
submissions give identical bytes and Docker's layer cache hits. It holds regular files and the
context archive's own folders; Docker creates any other parent folder when it unpacks.

Memory stays bounded whatever the upload: data moves in chunks through temporary files that roll
to disk, and a context archive is read as a stream that stops at the upload cap, so a small
.tar.gz that expands enormously (a tar bomb) is refused after reading at most the cap.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import tarfile
import tempfile
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from typing import BinaryIO

from dccf import settings
from services.master.errors import InvalidInput, PayloadTooLarge

DOCKERFILE = "Dockerfile"
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_ENTRIES = 10_000
MAX_TOTAL_PATH_BYTES = 2 * 1024 * 1024
# tarfile reads a PAX or GNU long-name header whole into memory, and one header may introduce
# the next: both the size of one and the length of a chain must be bounded.
MAX_ARCHIVE_HEADER_BYTES = 1024 * 1024
MAX_HEADER_CHAIN_BYTES = 64 * 1024
SPOOL_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
# Unicode's control characters (category Cc), and the lone surrogates that stand for bytes
# which were not UTF-8.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
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

_DOCKERFILE_PART = "the dockerfile part"
_FILES_PART = "a files part"
_CONTEXT = "the context archive"


@dataclass(frozen=True)
class Upload:
    filename: str
    file: BinaryIO


@dataclass(frozen=True)
class ContextTar:
    file: BinaryIO
    size: int
    paths: list[str]


@dataclass(frozen=True)
class _File:
    origin: str
    source: BinaryIO
    offset: int
    size: int
    mode: int


def check_path(name: str) -> str:
    """Return `name` as a normalised path inside the context, or raise `InvalidInput`."""
    return _check_path(name, "path")


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
    contents = _Contents(limits)
    if dockerfile is not None:
        contents.add_file(
            DOCKERFILE, _File(_DOCKERFILE_PART, dockerfile.file, 0, _size(dockerfile.file), 0o644)
        )
    for upload in files:
        path = _check_path(upload.filename, "files path")
        contents.add_file(path, _File(_FILES_PART, upload.file, 0, _size(upload.file), 0o644))
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as staging:
        if context is not None:
            _read_context(context.file, staging, contents, limits)
        entries = contents.finish()
        return _write_tar(entries)


class _Contents:
    """Every path of the context so far and where its data lives; the rules that span parts."""

    def __init__(self, limits: settings.Limits) -> None:
        self._limits = limits
        self.files: dict[str, _File] = {}
        self.dirs: set[str] = set()
        self._data_bytes = 0
        self._path_bytes = 0

    def add_file(self, path: str, file: _File) -> None:
        self._count(path)
        first = self.files.get(path)
        if first is not None:
            if path == DOCKERFILE and _DOCKERFILE_PART in (first.origin, file.origin):
                other = file.origin if first.origin == _DOCKERFILE_PART else first.origin
                raise InvalidInput(
                    f"{other} also holds 'Dockerfile'; send the Dockerfile once: as the "
                    "dockerfile part, or in the context with no dockerfile part",
                    code="dockerfile_clash",
                )
            raise InvalidInput(
                f"path {path!r} is given twice (by {first.origin} and by {file.origin}); "
                "each path may appear once",
                code="duplicate_path",
            )
        if path in self.dirs:
            raise _conflict(path, f"{path}/")
        if path == DOCKERFILE and file.size > self._limits.max_dockerfile_bytes:
            raise InvalidInput(
                f"the Dockerfile is {file.size} bytes; at most "
                f"{self._limits.max_dockerfile_bytes} bytes are allowed",
                code="dockerfile_too_large",
            )
        self._data_bytes += file.size
        if self._data_bytes > self._limits.max_upload_bytes:
            raise PayloadTooLarge(
                f"the build context holds more than {_mib(self._limits.max_upload_bytes)} of "
                "file data, the upload limit; send fewer or smaller files"
            )
        self.files[path] = file

    def add_dir(self, path: str) -> None:
        if path in self.dirs:
            return
        if path in self.files:
            raise _conflict(path, f"{path}/")
        self._count(path)
        self.dirs.add(path)

    def finish(self) -> list[tuple[str, _File | None]]:
        """The entries in the tar's order, once the context as a whole obeys the rules."""
        if DOCKERFILE not in self.files:
            nested = sorted(p for p in self.files if p.endswith("/" + DOCKERFILE))
            hint = (
                f" ({nested[0]!r} is not at the root; the build uses the root's Dockerfile)"
                if nested
                else ""
            )
            raise InvalidInput(
                "no Dockerfile: send a dockerfile part, or a context archive with a Dockerfile "
                f"at its root{hint}",
                code="missing_dockerfile",
            )
        entries: list[tuple[str, _File | None]] = [*self.files.items()]
        entries += [(path, None) for path in self.dirs]
        # '/' sorts as NUL (which no path holds): a folder's contents then sort together right
        # after the folder's own name, so a file with anything beneath it is followed by it.
        entries.sort(key=lambda entry: entry[0].replace("/", "\x00"))
        for (path, file), (following, _) in itertools.pairwise(entries):
            if file is not None and following.startswith(path + "/"):
                raise _conflict(path, following)
        return entries

    def _count(self, path: str) -> None:
        self._path_bytes += len(path.encode())
        if len(self.files) + len(self.dirs) >= MAX_ENTRIES:
            raise PayloadTooLarge(
                f"the build context has more than {MAX_ENTRIES} files and folders; "
                "pack them into fewer files",
                code="too_many_files",
            )
        if self._path_bytes > MAX_TOTAL_PATH_BYTES:
            raise PayloadTooLarge(
                f"the build context's paths add up to more than {_mib(MAX_TOTAL_PATH_BYTES)}; "
                "use fewer files or shorter paths",
                code="too_many_files",
            )


def _conflict(path: str, beneath: str) -> InvalidInput:
    return InvalidInput(
        f"path {path!r} is a file, but {beneath!r} needs it to be a folder",
        code="path_conflict",
    )


def _check_path(name: str, what: str) -> str:
    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"{what} {name!r} {reason}", code="invalid_path")

    if not name:
        raise bad("is empty")
    if _SURROGATE.search(name):
        raise bad("is not valid UTF-8")
    if _CONTROL.search(name):
        raise bad("contains a control character")
    if "\\" in name:
        raise bad("contains a backslash; separate folders with '/'")
    if name.startswith("/"):
        raise bad("is absolute; give a path relative to the build context")
    path = name.removeprefix("./")
    if not path:
        raise bad("is empty")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise bad(f"is longer than {MAX_PATH_BYTES} bytes")
    for part in path.split("/"):
        if not part:
            raise bad("has an empty component (a doubled, leading or trailing '/')")
        if part in (".", ".."):
            raise bad(f"has a {part!r} component; give the plain relative path")
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise bad(f"has a component longer than {MAX_COMPONENT_BYTES} bytes")
    return path


def _read_context(
    raw: BinaryIO, staging: BinaryIO, contents: _Contents, limits: settings.Limits
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
            with tarfile.open(
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
    archive: tarfile.TarFile, member: tarfile.TarInfo, staging: BinaryIO, contents: _Contents
) -> None:
    if member.isdir():
        if member.name != ".":
            contents.add_dir(_check_path(member.name, "context member"))
        return
    path = _check_path(member.name, "context member")
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
    contents.add_file(path, _File(_CONTEXT, staging, staging.tell(), member.size, mode))
    data = archive.extractfile(member)
    assert data is not None  # a regular file always has a data stream
    _copy_exact(data, staging, member.size)


class _StrictTarInfo(tarfile.TarInfo):
    """tarfile's header parser without the trust a server cannot afford.

    tarfile ends an archive quietly at a damaged header (a truncated upload would lose its tail
    unnoticed), reads PAX and GNU long-name headers of any size into memory, and builds sparse
    maps of any length. Here the first is an error and the others are bounded or refused.
    `_proc_member` is the hook tarfile documents for subclasses; the sparse parsers are private.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(archive)
        except tarfile.EOFHeaderError:
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
                    f"{_mib(MAX_ARCHIVE_HEADER_BYTES)} or chained too long"
                )
        return super()._proc_member(archive)

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


class _CappedReader:
    """The uncompressed context, refused once it passes the upload cap."""

    def __init__(self, raw: BinaryIO, limits: settings.Limits) -> None:
        self._raw = raw
        self._cap = limits.max_upload_bytes
        self._read = 0

    def read(self, size: int) -> bytes:
        data = self._raw.read(min(size, CHUNK_BYTES) if size >= 0 else CHUNK_BYTES)
        self._read += len(data)
        if self._read > self._cap:
            raise PayloadTooLarge(
                f"the context archive expands to more than {_mib(self._cap)}, the upload limit; "
                "send a smaller context"
            )
        return data

    def drain(self) -> None:
        while self.read(CHUNK_BYTES):
            pass


def _write_tar(entries: list[tuple[str, _File | None]]) -> ContextTar:
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
            _copy_exact(file.source, out, file.size)
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


def _copy_exact(source: BinaryIO, target: BinaryIO, size: int) -> None:
    left = size
    while left:
        chunk = source.read(min(left, CHUNK_BYTES))
        if not chunk:
            # In a context archive this is a truncated member (a 400, see _read_context); in an
            # upload the server's own temporary file changed under it.
            raise EOFError(f"data ended {left} bytes before its expected size of {size}")
        target.write(chunk)
        left -= len(chunk)


def _size(file: BinaryIO) -> int:
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    return size


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"
