"""Tar archives on the client side: packing a build context, unpacking a job's outputs.

The master rejects links and device nodes in a build context, so packing refuses them up front
with the offending path instead of uploading megabytes only to get a 400. Unpacking trusts
nothing from the wire: every member is checked before the first byte is written.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

from dccf import paths

GZIP_LEVEL = 6


class PackingError(ValueError):
    """A directory cannot be sent as a build context."""


class UnsafeArchive(ValueError):
    """An archive holds a member that would land outside its destination or is not plain."""


def _check_name(relpath: str) -> None:
    try:
        paths.relative_parts(relpath)
    except paths.UnsafePath as exc:
        raise PackingError(f"{exc}; the DCCF master rejects such paths: rename it") from None


def _walk(root: Path, directory: Path, skip: Collection[str]) -> list[tuple[Path, str, bool]]:
    """Every entry under `directory` as (path, relative posix name, is_dir), parents first."""
    found: list[tuple[Path, str, bool]] = []
    with os.scandir(directory) as entries:
        ordered = sorted(entries, key=lambda entry: entry.name)
    for entry in ordered:
        path = Path(entry.path)
        relpath = path.relative_to(root).as_posix()
        if relpath in skip:
            continue
        _check_name(relpath)
        if entry.is_symlink():
            raise PackingError(
                f"{relpath} is a symbolic link; the DCCF master rejects links in a build "
                "context: replace it with a copy of what it points to"
            )
        if entry.is_dir(follow_symlinks=False):
            found.append((path, relpath, True))
            found.extend(_walk(root, path, skip))
        elif entry.is_file(follow_symlinks=False):
            found.append((path, relpath, False))
        else:
            raise PackingError(
                f"{relpath} is not a regular file or directory (a socket, pipe or device); "
                "remove it from the build context"
            )
    return found


def pack_context(directory: Path, out: BinaryIO, skip: Collection[str] = ()) -> int:
    """Write `directory` as a gzip tar to `out`; return how many regular files went in.

    `skip` holds relative posix paths to leave out (a root `Dockerfile` replaced by `-f`).
    Members are built by hand rather than with `TarFile.add`, which turns a second name of a
    hard-linked file into a link member the master would reject.
    """
    if not directory.is_dir():
        raise PackingError(f"{directory} is not a directory")
    entries = _walk(directory, directory, frozenset(skip))
    count = 0
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
        for path, relpath, is_dir in entries:
            st = path.stat(follow_symlinks=False)
            info = tarfile.TarInfo(relpath)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            if is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            info.size = st.st_size
            with path.open("rb") as handle:
                tar.addfile(info, handle)
            count += 1
    return count


def _member_target(dest: Path, member: tarfile.TarInfo) -> Path | None:
    """Where `member` goes under `dest`, or None for the archive's own root entry."""
    name = member.name
    try:
        parts = paths.relative_parts(name)
    except paths.UnsafePath as exc:
        raise UnsafeArchive(f"archive member {exc}: refused") from None
    if not (member.isdir() or member.isreg()):
        raise UnsafeArchive(f"archive member {name!r} is not a regular file or directory: refused")
    if not parts:
        return None
    target = dest.joinpath(*parts)
    # resolve() follows links already on disk, so a symlink planted in dest cannot redirect us.
    if not target.resolve().is_relative_to(dest.resolve()):
        raise UnsafeArchive(f"archive member {name!r} would land outside {dest}: refused")
    return target


def extract_archive(archive: BinaryIO, dest: Path) -> list[tuple[str, int]]:
    """Unpack a seekable tar or tar.gz file into `dest`; list (path, size) of each file.

    Every member is checked before anything is written, so a bad archive leaves `dest` as it was.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=archive, mode="r:*") as tar:
        members = tar.getmembers()
        targets = [(member, _member_target(dest, member)) for member in members]
        written: list[tuple[str, int]] = []
        for member, target in targets:
            if target is None:
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArchive(f"archive member {member.name!r} has no data")
            with source, target.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            target.chmod(stat.S_IMODE(member.mode) & 0o755 | 0o600)
            written.append((target.relative_to(dest).as_posix(), member.size))
    return written
