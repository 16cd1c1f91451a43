from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dccf.packing import PackingError, UnsafeArchive, extract_archive, pack_context


def _members(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def _read(blob: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def _pack(directory: Path, skip: tuple[str, ...] = ()) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = pack_context(directory, out, skip=skip)
    return count, out.getvalue()


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (root / "src" / "pkg" / "main.py").write_text("print('hi')\n")
    run = root / "run.sh"
    run.write_text("#!/bin/sh\necho run\n")
    run.chmod(0o755)
    return root


def test_pack_keeps_files_dirs_content_and_modes(context: Path) -> None:
    count, blob = _pack(context)
    members = _members(blob)
    assert count == 3
    assert sorted(members) == [
        "Dockerfile",
        "empty",
        "run.sh",
        "src",
        "src/pkg",
        "src/pkg/main.py",
    ]
    assert members["empty"].isdir() and members["src/pkg"].isdir()
    assert members["run.sh"].isreg() and members["run.sh"].mode == 0o755
    assert _read(blob, "src/pkg/main.py") == b"print('hi')\n"
    assert all(m.uid == 0 and m.uname == "" for m in members.values())


def test_pack_writes_hard_links_as_two_regular_files(context: Path) -> None:
    os.link(context / "run.sh", context / "run-again.sh")
    _, blob = _pack(context)
    members = _members(blob)
    assert members["run-again.sh"].isreg()
    assert _read(blob, "run-again.sh") == _read(blob, "run.sh")


def test_pack_skips_the_root_dockerfile_when_asked(context: Path) -> None:
    count, blob = _pack(context, skip=("Dockerfile",))
    assert count == 2
    assert "Dockerfile" not in _members(blob)


def test_pack_refuses_a_symlink_and_names_it(context: Path) -> None:
    (context / "src" / "link.py").symlink_to(context / "src" / "pkg" / "main.py")
    with pytest.raises(PackingError, match=r"src/link\.py is a symbolic link"):
        _pack(context)


def test_pack_refuses_a_symlinked_directory(context: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (context / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(PackingError, match="data is a symbolic link"):
        _pack(context)


def test_pack_refuses_a_fifo(context: Path) -> None:
    os.mkfifo(context / "pipe")
    with pytest.raises(PackingError, match="pipe is not a regular file or directory"):
        _pack(context)


def test_pack_refuses_a_control_character_in_a_name(context: Path) -> None:
    (context / "bad\tname").write_text("x")
    with pytest.raises(PackingError, match="control character"):
        _pack(context)


def test_pack_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PackingError, match="is not a directory"):
        _pack(tmp_path / "nope")


def _archive(*members: tuple[str, bytes | None, bytes]) -> io.BytesIO:
    """A tar.gz of (name, type, content) members, with arbitrary names and types."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind or tarfile.REGTYPE
            if info.type == tarfile.SYMTYPE or info.type == tarfile.LNKTYPE:
                info.linkname = data.decode()
                tar.addfile(info)
            elif info.type == tarfile.DIRTYPE:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def test_extract_writes_plain_files_and_reports_them(tmp_path: Path) -> None:
    archive = _archive(
        ("./", tarfile.DIRTYPE, b""),
        ("result.txt", None, b"42\n"),
        ("deep/dir", tarfile.DIRTYPE, b""),
        ("deep/dir/data.bin", None, b"\x00\x01"),
    )
    dest = tmp_path / "out"
    written = extract_archive(archive, dest)
    assert written == [("result.txt", 3), ("deep/dir/data.bin", 2)]
    assert (dest / "result.txt").read_bytes() == b"42\n"
    assert (dest / "deep" / "dir" / "data.bin").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize(
    ("name", "kind", "data", "message"),
    [
        ("../escape.txt", None, b"x", "climb out"),
        ("a/../../escape.txt", None, b"x", "climb out"),
        ("/etc/escape.txt", None, b"x", "absolute"),
        ("link", tarfile.SYMTYPE, b"/etc/passwd", "not a regular file"),
        ("hard", tarfile.LNKTYPE, b"result.txt", "not a regular file"),
        ("dev", tarfile.CHRTYPE, b"", "not a regular file"),
    ],
)
def test_extract_refuses_unsafe_members_before_writing_anything(
    tmp_path: Path, name: str, kind: bytes | None, data: bytes, message: str
) -> None:
    archive = _archive(("result.txt", None, b"ok"), (name, kind, data))
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive, match=message):
        extract_archive(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_extract_does_not_follow_a_symlink_already_in_dest(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    with pytest.raises(UnsafeArchive, match="outside"):
        extract_archive(_archive(("sub/planted.txt", None, b"x")), dest)
    assert list(outside.iterdir()) == []
