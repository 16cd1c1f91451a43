from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from services.worker.outputs import ChunkReader, OutputTooLarge, collect_outputs, output_path


def archive(*entries: tarfile.TarInfo | tuple[str, bytes], chunk: int = 700) -> Iterator[bytes]:
    """A tar like get_archive("/output") sends, cut into odd-sized chunks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        root = tarfile.TarInfo("output")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return iter([raw[i : i + chunk] for i in range(0, len(raw), chunk)])


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("output/a.txt", "a.txt"),
        ("output/a/b.txt", "a/b.txt"),
        ("output/./a//b.txt", "a/b.txt"),
        ("output/a b/ü.txt", "a b/ü.txt"),
    ],
)
def test_output_path_strips_the_root(name: str, expected: str) -> None:
    assert output_path(name) == PurePosixPath(expected)


@pytest.mark.parametrize(
    "name",
    [
        "output",
        "output/",
        "other/a.txt",
        "/output/a.txt",
        "output/../etc/passwd",
        "output/a/../../b",
        "output/new\nline",
        "output/\x7fdel",
        "output/bad-\udcff-bytes",
    ],
)
def test_output_path_refuses(name: str) -> None:
    assert output_path(name) is None


def test_chunk_reader_serves_short_reads_and_ends() -> None:
    reader = ChunkReader(iter([b"abc", b"", b"defgh"]))
    assert reader.read(2) == b"ab"
    assert reader.read(10) == b"c"
    assert reader.read(-1) == b"defgh"
    assert reader.read(10) == b""


def test_collects_regular_files_with_size_and_hash(tmp_path: Path) -> None:
    big = bytes(range(256)) * 1000
    files = collect_outputs(
        archive(("output/z.txt", b"zed"), ("output/dir/big.bin", big)), tmp_path / "out", 10**6
    )
    assert [(f.path, f.size) for f in files] == [("dir/big.bin", len(big)), ("z.txt", 3)]
    assert files[0].sha256 == hashlib.sha256(big).hexdigest()
    assert files[0].local_path == tmp_path / "out" / "dir" / "big.bin"
    assert files[0].local_path.read_bytes() == big
    assert files[1].local_path.read_bytes() == b"zed"


def test_skips_links_devices_and_escapes(tmp_path: Path) -> None:
    files = collect_outputs(
        archive(
            ("output/kept", b"k"),
            special("output/sym", tarfile.SYMTYPE, "/etc/passwd"),
            special("output/hard", tarfile.LNKTYPE, "output/kept"),
            special("output/dev", tarfile.CHRTYPE),
            special("output/fifo", tarfile.FIFOTYPE),
            ("output/../escape", b"e"),
            ("elsewhere/file", b"e"),
        ),
        tmp_path / "out",
        10**6,
    )
    assert [f.path for f in files] == ["kept"]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["kept"]
    assert not (tmp_path / "escape").exists()


def test_stops_at_the_cap_and_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    entries = (("output/a", b"a" * 600), ("output/b", b"b" * 500))
    with pytest.raises(OutputTooLarge):
        collect_outputs(archive(*entries), dest, 1000)
    assert not dest.exists()


def test_the_cap_is_not_read_past(tmp_path: Path) -> None:
    consumed: list[int] = []

    def counting(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            consumed.append(len(chunk))
            yield chunk

    huge = b"h" * 5_000_000
    with pytest.raises(OutputTooLarge):
        collect_outputs(counting(archive(("output/huge", huge), chunk=65536)), tmp_path, 1000)
    assert sum(consumed) < 200_000


def test_exactly_at_the_cap_is_fine(tmp_path: Path) -> None:
    files = collect_outputs(archive(("output/a", b"a" * 1000)), tmp_path / "out", 1000)
    assert [f.size for f in files] == [1000]


def test_empty_output(tmp_path: Path) -> None:
    assert collect_outputs(archive(), tmp_path / "out", 1000) == []
