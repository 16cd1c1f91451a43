"""The build context: path rules, archive safety, caps, and the normalised output tar."""

from __future__ import annotations

import dataclasses
import gzip
import io
import random
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from limits import LIMITS, MIB

from dccf import settings
from services.master import context_entries
from services.master.build_context import ContextTar, Upload, build_context, check_path
from services.master.errors import ApiError, InvalidInput, PayloadTooLarge

DOCKERFILE = b"FROM debian:bookworm-slim\nCOPY . /app\n"


def upload(name: str, data: bytes) -> Upload:
    return Upload(filename=name, file=io.BytesIO(data))


def dockerfile(data: bytes = DOCKERFILE) -> Upload:
    return upload("Dockerfile", data)


def member(name: str, data: bytes = b"", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def archive(
    members: Iterable[tuple[tarfile.TarInfo, bytes]],
    *,
    gz: bool = False,
    fmt: int = tarfile.PAX_FORMAT,
    pax_headers: dict[str, str] | None = None,
) -> bytes:
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w:gz" if gz else "w", format=fmt, pax_headers=pax_headers
    ) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def context(data: bytes, name: str = "context.tar") -> Upload:
    return upload(name, data)


_built: list[ContextTar] = []


@pytest.fixture(autouse=True)
def _close_built_tars() -> Iterator[None]:
    yield
    while _built:
        _built.pop().file.close()


def build(
    dockerfile_part: Upload | None = None,
    files: list[Upload] | None = None,
    context_part: Upload | None = None,
    limits: settings.Limits = LIMITS,
) -> ContextTar:
    result = build_context(dockerfile_part, files or [], context_part, limits)
    _built.append(result)
    return result


def output(result: ContextTar) -> list[tuple[str, str, int, bytes | None]]:
    """The output tar's entries as (name, kind, mode, data), checking the fixed metadata."""
    data = result.file.read()
    assert len(data) == result.size
    assert result.size % tarfile.BLOCKSIZE == 0
    assert data.endswith(tarfile.NUL * 2 * tarfile.BLOCKSIZE)  # the end marker, no padding
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", 0)
            assert info.isfile() or info.isdir()
            content = tar.extractfile(info).read() if info.isfile() else None  # type: ignore[union-attr]
            entries.append((info.name, "file" if info.isfile() else "dir", info.mode, content))
    return entries


def refused(error: type[ApiError] = InvalidInput, **parts: object) -> ApiError:
    with pytest.raises(error) as caught:
        build(**parts)  # type: ignore[arg-type]
    return caught.value


# --- check_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("a.txt", "a.txt"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a.txt", "a.txt"),
        ("./a/b", "a/b"),
        (".hidden", ".hidden"),
        ("a/.b/..c/c..", "a/.b/..c/c.."),
        ("space and ü/ünïcode €.txt", "space and ü/ünïcode €.txt"),
        ("C:/x", "C:/x"),
        ("x" * 255, "x" * 255),
        ("/".join(["d" * 254] * 16), "/".join(["d" * 254] * 16)),
    ],
)
def test_valid_paths(name: str, path: str) -> None:
    assert check_path(name) == path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "is empty"),
        ("../x", "has a '..' component"),
        ("a/../b", "has a '..' component"),
        ("a/..", "has a '..' component"),
        ("..", "has a '..' component"),
        ("a/./b", "has a '.' component"),
        (".", "has a '.' component"),
        ("././a", "has a '.' component"),
        ("/etc/passwd", "is absolute"),
        ("/", "is absolute"),
        ("a\x00b", "contains a control character"),
        ("a\nb", "contains a control character"),
        ("a\rb", "contains a control character"),
        ("a\tb", "contains a control character"),
        ("a\x1bb", "contains a control character"),
        ("a\x7fb", "contains a control character"),
        ("a\x9bb", "contains a control character"),
        ("a\\b", "contains a backslash"),
        ("..\\x", "contains a backslash"),
        ("a//b", "has an empty component"),
        ("a/", "has an empty component"),
        ("./", "is empty"),
        (".//a", "has an empty component"),
        ("x" * 256, "has a component longer than 255 bytes"),
        ("é" * 128, "has a component longer than 255 bytes"),
        ("/".join(["d" * 200] * 21), "is longer than 4096 bytes"),
        ("bad\udcffutf8", "is not valid UTF-8"),
    ],
)
def test_invalid_paths(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_path(name)
    assert caught.value.code == "invalid_path"
    assert caught.value.message.startswith(f"path {name!r} ")
    assert reason in caught.value.message


# --- dockerfile and files parts ------------------------------------------------------------


def test_a_dockerfile_alone() -> None:
    result = build(dockerfile())
    assert result.paths == ["Dockerfile"]
    assert output(result) == [("Dockerfile", "file", 0o644, DOCKERFILE)]


def test_a_1_kib_dockerfile_makes_a_context_without_record_padding() -> None:
    """Header, data and the end marker: 2.5 KiB, not the 10 KiB of a padded record."""
    result = build(upload("Dockerfile", b"#" * 1024))
    assert result.size == tarfile.BLOCKSIZE + 1024 + 2 * tarfile.BLOCKSIZE


def test_the_dockerfile_part_filename_does_not_matter() -> None:
    result = build(upload("build/my.dockerfile", DOCKERFILE))
    assert output(result) == [("Dockerfile", "file", 0o644, DOCKERFILE)]


def test_nested_files_are_sorted_with_folders_together() -> None:
    files = [
        upload("z.txt", b"z"),
        upload("a/b/c.txt", b"c"),
        upload("a.txt", b"a."),
        upload("a/b.txt", b"ab"),
        upload("a-b", b"a-b"),
    ]
    result = build(dockerfile(), files)
    assert result.paths == ["Dockerfile", "a/b/c.txt", "a/b.txt", "a-b", "a.txt", "z.txt"]
    assert output(result) == [
        ("Dockerfile", "file", 0o644, DOCKERFILE),
        ("a/b/c.txt", "file", 0o644, b"c"),
        ("a/b.txt", "file", 0o644, b"ab"),
        ("a-b", "file", 0o644, b"a-b"),
        ("a.txt", "file", 0o644, b"a."),
        ("z.txt", "file", 0o644, b"z"),
    ]


def test_a_leading_dot_slash_is_dropped() -> None:
    assert build(dockerfile(), [upload("./run.sh", b"")]).paths == ["Dockerfile", "run.sh"]


def test_empty_and_large_files_are_copied_exactly() -> None:
    big = random.Random(1).randbytes(3 * MIB + 7)
    files = [upload("empty", b""), upload("big.bin", big)]
    assert output(build(dockerfile(), files))[1:] == [
        ("big.bin", "file", 0o644, big),
        ("empty", "file", 0o644, b""),
    ]


def test_uploads_are_read_from_their_start() -> None:
    part = upload("a.txt", b"hello")
    part.file.read()
    assert output(build(dockerfile(), [part]))[1] == ("a.txt", "file", 0o644, b"hello")


class Shrinking(io.BytesIO):
    """A file whose data runs out before the size its end position promised."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(size)[:1]


def test_an_upload_that_reads_short_fails_instead_of_looping() -> None:
    part = Upload(filename="a.txt", file=Shrinking(b"x" * 10))
    with pytest.raises(EOFError, match="data ended 9 bytes before its expected size of 10"):
        build(dockerfile(), [part])


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../b", "a\x00b", "a\nb", "a\\b", "a//b", "a/", ""]
)
def test_a_files_part_with_a_bad_path_is_refused(name: str) -> None:
    error = refused(dockerfile_part=dockerfile(), files=[upload(name, b"x")])
    assert error.code == "invalid_path"
    assert error.message.startswith(f"files path {name!r} ")


def test_a_duplicate_files_path_is_refused() -> None:
    files = [upload("a/b.txt", b"1"), upload("c", b""), upload("./a/b.txt", b"2")]
    error = refused(dockerfile_part=dockerfile(), files=files)
    assert error.code == "duplicate_path"
    assert error.message == (
        "path 'a/b.txt' is given twice (by a files part and by a files part); "
        "each path may appear once"
    )


def test_a_files_part_named_dockerfile_clashes_with_the_dockerfile_part() -> None:
    error = refused(dockerfile_part=dockerfile(), files=[upload("Dockerfile", b"FROM x")])
    assert error.code == "dockerfile_clash"
    assert error.message.startswith("a files part also holds 'Dockerfile'")


def test_a_files_part_named_dockerfile_serves_as_the_dockerfile() -> None:
    result = build(None, [upload("Dockerfile", DOCKERFILE), upload("x", b"")])
    assert result.paths == ["Dockerfile", "x"]


def test_dockerfile_in_a_subfolder_is_not_a_clash() -> None:
    files = [upload("sub/Dockerfile", b"FROM y"), upload("dockerfile", b"lower")]
    assert build(dockerfile(), files).paths == ["Dockerfile", "dockerfile", "sub/Dockerfile"]


@pytest.mark.parametrize(
    ("paths", "file", "beneath"),
    [
        (["a", "a/b"], "a", "a/b"),
        (["a/b/c", "a-b", "a", "a.txt"], "a", "a/b/c"),
        (["x/y", "x/y/z"], "x/y", "x/y/z"),
        (["Dockerfile/x"], "Dockerfile", "Dockerfile/x"),
    ],
)
def test_a_file_cannot_also_be_a_folder(paths: list[str], file: str, beneath: str) -> None:
    files = [upload(path, b"") for path in paths]
    error = refused(dockerfile_part=dockerfile(), files=files)
    assert error.code == "path_conflict"
    assert error.message == f"path {file!r} is a file, but {beneath!r} needs it to be a folder"


def test_the_dockerfile_may_be_exactly_at_the_cap() -> None:
    assert build(dockerfile(b"#" * MIB)).paths == ["Dockerfile"]


def test_a_dockerfile_over_the_cap_is_refused() -> None:
    error = refused(dockerfile_part=dockerfile(b"#" * (MIB + 1)))
    assert error.code == "dockerfile_too_large"
    assert error.status == 400
    assert error.message == (f"the Dockerfile is {MIB + 1} bytes; at most {MIB} bytes are allowed")


def test_no_dockerfile_at_all_is_refused() -> None:
    error = refused(files=[upload("a.txt", b"")])
    assert error.code == "missing_dockerfile"
    assert error.message == (
        "no Dockerfile: send a dockerfile part, or a context archive with a Dockerfile at its root"
    )


def test_files_over_the_upload_cap_are_refused() -> None:
    limits = dataclasses.replace(LIMITS, max_upload_bytes=1000)
    files = [upload("a", b"x" * 500), upload("b", b"x" * 500)]
    error = refused(PayloadTooLarge, dockerfile_part=dockerfile(), files=files, limits=limits)
    assert error.status == 413
    assert error.code == "payload_too_large"


def test_the_number_of_entries_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_entries, "MAX_ENTRIES", 4)
    assert len(build(dockerfile(), [upload(f"f{i}", b"") for i in range(3)]).paths) == 4
    files = [upload(f"f{i}", b"") for i in range(4)]
    error = refused(PayloadTooLarge, dockerfile_part=dockerfile(), files=files)
    assert error.code == "too_many_files"
    assert error.message.startswith("the build context has more than 4 files and folders")


def test_the_total_length_of_paths_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_entries, "MAX_TOTAL_PATH_BYTES", 100)
    files = [upload(f"{i:030}", b"") for i in range(4)]
    error = refused(PayloadTooLarge, dockerfile_part=dockerfile(), files=files)
    assert error.code == "too_many_files"
    assert "paths add up to more than" in error.message


# --- the context archive: accepted shapes --------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_a_context_with_its_own_dockerfile(gz: bool) -> None:
    data = archive(
        [
            member("./Dockerfile", DOCKERFILE),
            member("./src", type=tarfile.DIRTYPE, mode=0o700),
            member("./src/main.py", b"print(1)"),
            member("./run.sh", b"#!/bin/sh", mode=0o700),
            member("./lib.so", b"elf", mode=0o751),
            member("./secret", b"s", mode=0o600, uid=1000, gid=1000, uname="me", mtime=1e9),
        ],
        gz=gz,
    )
    result = build(context_part=context(data))
    assert result.paths == ["Dockerfile", "lib.so", "run.sh", "secret", "src/main.py"]
    assert output(result) == [
        ("Dockerfile", "file", 0o644, DOCKERFILE),
        ("lib.so", "file", 0o755, b"elf"),
        ("run.sh", "file", 0o755, b"#!/bin/sh"),
        ("secret", "file", 0o644, b"s"),
        ("src", "dir", 0o755, None),
        ("src/main.py", "file", 0o644, b"print(1)"),
    ]


def test_gzip_is_detected_by_content_not_by_name() -> None:
    members = [member("Dockerfile", DOCKERFILE)]
    plain_named_gz = context(archive(members), "context.tar.gz")
    gz_named_plain = context(archive(members, gz=True), "context.tar")
    assert build(context_part=plain_named_gz).paths == ["Dockerfile"]
    assert build(context_part=gz_named_plain).paths == ["Dockerfile"]


def test_the_root_folder_entry_is_skipped_and_folders_repeat_harmlessly() -> None:
    data = archive(
        [
            member(".", type=tarfile.DIRTYPE),
            member("./d", type=tarfile.DIRTYPE),
            member("d/", type=tarfile.DIRTYPE),
            member("./d/empty", type=tarfile.DIRTYPE),
            member("./Dockerfile", DOCKERFILE),
        ]
    )
    assert output(build(context_part=context(data))) == [
        ("Dockerfile", "file", 0o644, DOCKERFILE),
        ("d", "dir", 0o755, None),
        ("d/empty", "dir", 0o755, None),
    ]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_and_unicode_member_names(fmt: int) -> None:
    long = "/".join(["folder-with-a-long-name"] * 10) + "/ü-file.txt"
    data = archive(
        [member("Dockerfile", DOCKERFILE), member(long, b"deep"), member("é" * 120, b"e")],
        fmt=fmt,
    )
    result = build(context_part=context(data))
    assert result.paths == ["Dockerfile", long, "é" * 120]
    assert output(result)[1] == (long, "file", 0o644, b"deep")


def test_a_git_archive_style_global_header_is_fine() -> None:
    data = archive([member("Dockerfile", DOCKERFILE)], pax_headers={"comment": "a" * 40})
    assert build(context_part=context(data)).paths == ["Dockerfile"]


def test_context_and_parts_merge() -> None:
    data = archive([member("lib/util.py", b"u"), member("lib", type=tarfile.DIRTYPE)])
    result = build(dockerfile(), [upload("main.py", b"m")], context(data))
    assert result.paths == ["Dockerfile", "lib/util.py", "main.py"]


def test_an_empty_archive_with_a_dockerfile_part() -> None:
    assert build(dockerfile(), [], context(archive([]))).paths == ["Dockerfile"]


# --- the context archive: refused ----------------------------------------------------------


def test_a_context_whose_dockerfile_is_only_in_a_subfolder() -> None:
    data = archive([member("app/Dockerfile", DOCKERFILE), member("app/x", b"")])
    error = refused(context_part=context(data))
    assert error.code == "missing_dockerfile"
    assert error.message.endswith(
        "('app/Dockerfile' is not at the root; the build uses the root's Dockerfile)"
    )


def test_a_context_whose_dockerfile_is_a_folder() -> None:
    data = archive([member("Dockerfile", type=tarfile.DIRTYPE)])
    assert refused(context_part=context(data)).code == "missing_dockerfile"


def test_a_context_dockerfile_and_a_dockerfile_part_clash() -> None:
    data = archive([member("./Dockerfile", DOCKERFILE)])
    error = refused(dockerfile_part=dockerfile(), context_part=context(data))
    assert error.code == "dockerfile_clash"
    assert error.message.startswith("the context archive also holds 'Dockerfile'")


def test_a_context_dockerfile_over_the_cap() -> None:
    data = archive([member("Dockerfile", b"#" * (MIB + 1))])
    assert refused(context_part=context(data)).code == "dockerfile_too_large"


def test_a_path_in_both_the_context_and_a_files_part() -> None:
    data = archive([member("./a/b.txt", b"1")])
    error = refused(
        dockerfile_part=dockerfile(), files=[upload("a/b.txt", b"2")], context_part=context(data)
    )
    assert error.code == "duplicate_path"
    assert error.message == (
        "path 'a/b.txt' is given twice (by a files part and by the context archive); "
        "each path may appear once"
    )


def test_a_member_repeated_in_the_archive() -> None:
    data = archive([member("x", b"1"), member("./x", b"2")])
    error = refused(dockerfile_part=dockerfile(), context_part=context(data))
    assert error.code == "duplicate_path"


@pytest.mark.parametrize(
    ("members", "file", "beneath"),
    [
        ([member("a", b""), member("a", type=tarfile.DIRTYPE)], "a", "a/"),
        ([member("a", type=tarfile.DIRTYPE), member("a", b"")], "a", "a/"),
        ([member("a", b""), member("a/b", b"")], "a", "a/b"),
    ],
)
def test_a_member_that_is_both_file_and_folder(
    members: list[tuple[tarfile.TarInfo, bytes]], file: str, beneath: str
) -> None:
    error = refused(dockerfile_part=dockerfile(), context_part=context(archive(members)))
    assert error.code == "path_conflict"
    assert error.message == f"path {file!r} is a file, but {beneath!r} needs it to be a folder"


def test_a_files_part_beneath_a_context_file() -> None:
    data = archive([member("a", b"")])
    error = refused(
        dockerfile_part=dockerfile(), files=[upload("a/b", b"")], context_part=context(data)
    )
    assert error.code == "path_conflict"


@pytest.mark.parametrize(
    ("special", "kind"),
    [
        (member("link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "a symbolic link"),
        (member("hard", type=tarfile.LNKTYPE, linkname="Dockerfile"), "a hard link"),
        (member("tty", type=tarfile.CHRTYPE, devmajor=5, devminor=0), "a character device"),
        (member("sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0), "a block device"),
        (member("pipe", type=tarfile.FIFOTYPE), "a fifo"),
        (member("vol", type=b"M"), "a special file"),
    ],
)
def test_links_devices_and_fifos_are_refused(
    special: tuple[tarfile.TarInfo, bytes], kind: str
) -> None:
    data = archive([member("Dockerfile", DOCKERFILE), special], fmt=tarfile.GNU_FORMAT)
    error = refused(context_part=context(data))
    assert error.code == "unsafe_archive"
    assert error.message.startswith(f"context member {special[0].name!r} is {kind}; ")


@pytest.mark.parametrize(
    "name", ["../evil", "/etc/cron.d/evil", "a/../../evil", "a\\..\\evil", "a\nb", ".."]
)
def test_members_with_bad_paths_are_refused(name: str) -> None:
    data = archive([member("Dockerfile", DOCKERFILE), member(name, b"x")])
    error = refused(context_part=context(data))
    assert error.code == "invalid_path"
    assert error.message.startswith(f"context member {name!r} ")


def test_a_folder_member_with_a_bad_path_is_refused() -> None:
    data = archive([member("../up", type=tarfile.DIRTYPE)])
    error = refused(dockerfile_part=dockerfile(), context_part=context(data))
    assert error.code == "invalid_path"


def test_a_member_name_that_is_not_utf8_is_refused() -> None:
    raw = archive([member("Dockerfile", DOCKERFILE), member("ab", b"x")], fmt=tarfile.USTAR_FORMAT)
    data = bytearray(raw)
    header = data.index(b"ab\x00")  # the second member's header starts with its name
    data[header : header + 2] = b"\xff\xfe"
    _fix_checksum(data, header)
    error = refused(context_part=context(bytes(data)))
    assert error.code == "invalid_path"
    assert "is not valid UTF-8" in error.message


@pytest.mark.parametrize(
    "pax",
    [
        {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "big"},
        {"GNU.sparse.map": "0,1", "GNU.sparse.name": "big"},
        {"GNU.sparse.size": "1", "GNU.sparse.offset": "0", "GNU.sparse.numbytes": "1"},
    ],
)
def test_pax_sparse_files_are_refused(pax: dict[str, str]) -> None:
    info, data = member("GNUSparseFile.0/big", b"\n" * 512)
    info.pax_headers = pax
    error = refused(dockerfile_part=dockerfile(), context_part=context(archive([(info, data)])))
    assert error.code == "unsafe_archive"
    assert "sparse" in error.message


def test_gnu_sparse_files_are_refused() -> None:
    info, _ = member("holes", type=tarfile.GNUTYPE_SPARSE)
    data = info.tobuf(tarfile.GNU_FORMAT) + tarfile.NUL * tarfile.RECORDSIZE
    error = refused(dockerfile_part=dockerfile(), context_part=context(data))
    assert error.code == "unsafe_archive"
    assert error.message.startswith("context member 'holes' is a sparse file")


# --- damaged archives ----------------------------------------------------------------------


def _fix_checksum(data: bytearray, header: int) -> None:
    block = data[header : header + tarfile.BLOCKSIZE]
    block[148:156] = b" " * 8
    data[header + 148 : header + 156] = b"%06o\x00 " % sum(block)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an archive at all, just some text" * 20,
        bytes(range(256)) * 4,
        b"BZh91AY&SY" + b"\x00" * 600,
        gzip.compress(b"plain text, not a tar" * 50),
        gzip.compress(b"")[:-3],
    ],
    ids=["empty", "text", "binary", "bzip2", "gzipped-text", "broken-gzip"],
)
def test_what_is_not_a_tar_is_refused(data: bytes) -> None:
    error = refused(dockerfile_part=dockerfile(), context_part=context(data))
    assert error.code == "invalid_archive"
    assert error.message.startswith("the context is not a readable .tar or .tar.gz archive")


def test_a_bzip2_tar_is_refused() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:bz2") as tar:
        info, data = member("Dockerfile", DOCKERFILE)
        tar.addfile(info, io.BytesIO(data))
    error = refused(context_part=context(out.getvalue()))
    assert error.code == "invalid_archive"


@pytest.mark.parametrize("cut", [600, 1024 + 512 + 100, 1024 + 1024, 1024 + 1024 + 600])
def test_a_truncated_tar_is_refused(cut: int) -> None:
    # Dockerfile header at 0, its data at 512, a.bin's header at 1024, its data from 1536.
    data = archive(
        [member("Dockerfile", DOCKERFILE), member("a.bin", b"x" * 1000)],
        fmt=tarfile.USTAR_FORMAT,
    )
    error = refused(context_part=context(data[:cut]))
    assert error.code == "invalid_archive"


def test_a_tar_without_its_end_marker_is_refused() -> None:
    data = archive([member("Dockerfile", DOCKERFILE)], fmt=tarfile.USTAR_FORMAT)
    assert refused(context_part=context(data[:1024])).code == "invalid_archive"


def test_a_truncated_gzip_is_refused() -> None:
    data = archive([member("Dockerfile", DOCKERFILE), member("a", bytes(5000))], gz=True)
    assert refused(context_part=context(data[: len(data) // 2])).code == "invalid_archive"


def test_a_gzip_with_a_bad_checksum_is_refused() -> None:
    data = bytearray(archive([member("Dockerfile", DOCKERFILE)], gz=True))
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    assert refused(context_part=context(bytes(data))).code == "invalid_archive"


def test_a_corrupt_gzip_body_is_refused() -> None:
    payload = random.Random(3).randbytes(20_000)
    data = bytearray(archive([member("Dockerfile", DOCKERFILE), member("r", payload)], gz=True))
    for index in range(200, 400):
        data[index] ^= 0x55
    assert refused(context_part=context(bytes(data))).code == "invalid_archive"


def test_a_negative_size_is_refused() -> None:
    data = bytearray(archive([member("Dockerfile", DOCKERFILE)], fmt=tarfile.USTAR_FORMAT))
    data[124:136] = tarfile.itn(-512, 12, tarfile.GNU_FORMAT)
    _fix_checksum(data, 0)
    assert refused(context_part=context(bytes(data))).code == "invalid_archive"


def test_a_negative_size_from_a_pax_header_is_refused() -> None:
    info, data = member("x", b"abc")
    info.pax_headers = {"size": "-5"}
    error = refused(dockerfile_part=dockerfile(), context_part=context(archive([(info, data)])))
    assert error.code == "invalid_archive"
    assert "member 'x' has a negative size" in error.message


def test_an_oversized_pax_header_is_refused() -> None:
    info, data = member("Dockerfile", DOCKERFILE)
    info.pax_headers = {"comment": "x" * (2 * MIB)}
    error = refused(context_part=context(archive([(info, data)], gz=True)))
    assert error.code == "invalid_archive"
    assert "extended headers at byte" in error.message


def test_global_headers_cannot_pile_up() -> None:
    out = io.BytesIO()
    for index in range(3):
        glob = tarfile.TarInfo("pax_global_header")
        glob.type = tarfile.XGLTYPE
        body = _pax_record(f"k{index}", "v" * 600_000)
        glob.size = len(body)
        out.write(glob.tobuf(tarfile.USTAR_FORMAT) + _padded(body))
    out.write(archive([member("Dockerfile", DOCKERFILE)], fmt=tarfile.USTAR_FORMAT))
    error = refused(context_part=context(out.getvalue()))
    assert "extended headers at byte" in error.message


def test_a_long_chain_of_extended_headers_is_refused_without_deep_recursion() -> None:
    out = io.BytesIO()
    for index in range(3000):
        link = tarfile.TarInfo(f"pax{index}")
        link.type = tarfile.XHDTYPE
        body = _pax_record("comment", "c")
        link.size = len(body)
        out.write(link.tobuf(tarfile.USTAR_FORMAT) + _padded(body))
    out.write(archive([member("Dockerfile", DOCKERFILE)], fmt=tarfile.USTAR_FORMAT))
    error = refused(context_part=context(out.getvalue()))
    assert "extended headers at byte" in error.message


def _pax_record(key: str, value: str) -> bytes:
    record = f" {key}={value}\n".encode()
    length = len(record) + len(str(len(record)))
    length += len(str(length)) - len(str(len(record)))
    return str(length).encode() + record


def _padded(body: bytes) -> bytes:
    return body + tarfile.NUL * (-len(body) % tarfile.BLOCKSIZE)


@pytest.mark.parametrize("gz", [False, True])
def test_damaged_archives_never_escape_as_other_errors(gz: bool) -> None:
    """Random damage must end in a 400/413 or a valid context, never in a stray exception."""
    base = archive(
        [
            member("Dockerfile", DOCKERFILE),
            member("d", type=tarfile.DIRTYPE),
            member("d/" + "long-name-" * 15, b"payload" * 50),
            member("x", b"y" * 700, pax_headers={"comment": "c" * 300}),
        ],
        gz=gz,
    )
    rng = random.Random(20261127)
    refusals = 0
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        try:
            build(context_part=context(bytes(data)))
        except (InvalidInput, PayloadTooLarge):
            refusals += 1
    assert refusals > 200


# --- tar bombs -----------------------------------------------------------------------------


class Zeros(io.RawIOBase):
    """`size` zero bytes, produced on demand."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def gzipped_zeros(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        source = Zeros(size)
        while chunk := source.read(MIB):
            gz.write(chunk)
    return out.getvalue()


BOMB_LIMITS = dataclasses.replace(LIMITS, max_upload_bytes=10 * MIB)


def test_a_gzip_of_zeros_is_stopped_at_the_cap() -> None:
    bomb = gzipped_zeros(120 * MIB)
    assert len(bomb) < MIB
    part = context(bomb, "context.tar.gz")
    error = refused(
        PayloadTooLarge, dockerfile_part=dockerfile(), context_part=part, limits=BOMB_LIMITS
    )
    assert error.code == "payload_too_large"
    assert error.message == (
        "the context archive expands to more than 10 MiB, the upload limit; send a smaller context"
    )
    # Only about a tenth of the compressed stream was read before the refusal.
    assert part.file.tell() < len(bomb) / 4


def test_a_gzipped_tar_of_one_huge_file_is_refused_at_its_header() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=9) as tar:
        tar.addfile(*_streamed(member("Dockerfile", DOCKERFILE)))
        huge = tarfile.TarInfo("zeros.bin")
        huge.size = 120 * MIB
        tar.addfile(huge, Zeros(huge.size))
    bomb = out.getvalue()
    part = context(bomb)
    error = refused(PayloadTooLarge, context_part=part, limits=BOMB_LIMITS)
    assert error.code == "payload_too_large"
    assert part.file.tell() < len(bomb) / 4


def test_a_gzipped_tar_of_many_files_is_stopped_at_the_cap() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=9) as tar:
        tar.addfile(*_streamed(member("Dockerfile", DOCKERFILE)))
        for index in range(30):
            info = tarfile.TarInfo(f"part{index}.bin")
            info.size = MIB
            tar.addfile(info, Zeros(MIB))
    error = refused(PayloadTooLarge, context_part=context(out.getvalue()), limits=BOMB_LIMITS)
    assert error.code == "payload_too_large"


def test_a_context_just_under_the_cap_is_fine() -> None:
    data = archive([member("Dockerfile", DOCKERFILE), member("blob", bytes(9 * MIB))], gz=True)
    assert build(context_part=context(data), limits=BOMB_LIMITS).paths == ["Dockerfile", "blob"]


def _streamed(entry: tuple[tarfile.TarInfo, bytes]) -> tuple[tarfile.TarInfo, io.BytesIO]:
    return entry[0], io.BytesIO(entry[1])


# --- deterministic output ------------------------------------------------------------------


def submission() -> tuple[Upload, list[Upload], Upload]:
    data = archive(
        [member("lib/b.py", b"b", mtime=123, uid=5), member("lib/a.py", b"a", mtime=456)],
        gz=True,
    )
    return dockerfile(), [upload("z/y.txt", b"y"), upload("m.txt", b"m")], context(data)


def test_identical_submissions_give_identical_bytes() -> None:
    first = build(*submission())
    second = build(*submission())
    assert first.file.read() == second.file.read()


def test_a_context_archive_and_the_same_files_as_parts_give_identical_bytes() -> None:
    members = [member("Dockerfile", DOCKERFILE), member("b/c", b"c"), member("a", b"a")]
    as_archive = build(context_part=context(archive(members, gz=True)))
    as_parts = build(dockerfile(), [upload("a", b"a"), upload("b/c", b"c")])
    assert as_archive.file.read() == as_parts.file.read()


def test_the_output_starts_at_zero_and_its_size_is_right() -> None:
    result = build(*submission())
    assert result.file.tell() == 0
    assert len(result.file.read()) == result.size


# --- bounded memory ------------------------------------------------------------------------


def test_memory_stays_bounded_for_a_large_upload() -> None:
    """A ~50 MiB submission, in a fresh process so the peak RSS belongs to this build alone."""
    probe = textwrap.dedent(
        """
        import os, resource, tarfile, tempfile

        from dccf import settings
        from services.master.build_context import Upload, build_context

        MIB = 1024 * 1024

        def random_file(size):
            file = tempfile.TemporaryFile()
            for _ in range(size // MIB):
                file.write(os.urandom(MIB))
            file.seek(0)
            return file

        context_file = tempfile.TemporaryFile()
        with tarfile.open(fileobj=context_file, mode="w:gz", compresslevel=1) as tar:
            tar.addfile(tarfile.TarInfo("Dockerfile"))
            blob = tarfile.TarInfo("data/blob.bin")
            blob.size = 20 * MIB
            tar.addfile(blob, random_file(blob.size))
        context_file.seek(0)
        parts = [Upload(f"part{i}.bin", random_file(15 * MIB)) for i in range(2)]
        limits = settings.Limits(max_upload_bytes=100 * MIB)

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = build_context(None, parts, Upload("context.tar.gz", context_file), limits)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert result.size > 50 * MIB, result.size
        print((after - before) // 1024)
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    growth_mib = int(done.stdout)
    assert growth_mib < 30, f"peak RSS grew by {growth_mib} MiB building a 50 MiB context"
