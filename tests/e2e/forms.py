"""Multipart bodies and tar contexts built by hand, so a test controls every byte it sends.

httpx percent-encodes some characters of a part's filename and a tar library may refuse odd
member names; the bad-input tests need exactly those bytes on the wire.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None


def text(name: str, value: str) -> Part:
    return Part(name, value.encode())


def upload(name: str, filename: str, data: bytes | str) -> Part:
    return Part(name, data.encode() if isinstance(data, str) else data, filename)


def part_head(part: Part, boundary: str) -> bytes:
    disposition = b'form-data; name="' + _quote(part.name) + b'"'
    if part.filename is not None:
        disposition += b'; filename="' + _quote(part.filename) + b'"'
    lines = [b"--" + boundary.encode(), b"Content-Disposition: " + disposition]
    if part.filename is not None:
        lines.append(b"Content-Type: application/octet-stream")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _quote(value: str) -> bytes:
    # Only the quote and the backslash are escaped: control characters go out raw on purpose.
    return value.replace("\\", "\\\\").replace('"', '\\"').encode()


def new_boundary() -> str:
    return f"dccf-e2e-{uuid.uuid4().hex}"


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


def closing(boundary: str) -> bytes:
    return b"--" + boundary.encode() + b"--\r\n"


def encode(parts: Iterable[Part]) -> tuple[bytes, str]:
    """Return (body, Content-Type header) for a multipart/form-data request."""
    boundary = new_boundary()
    chunks = [part_head(part, boundary) + part.data + b"\r\n" for part in parts]
    return b"".join([*chunks, closing(boundary)]), content_type(boundary)


def job_parts(
    dockerfile: str | None,
    files: dict[str, bytes | str] | None = None,
    context: tuple[str, bytes] | None = None,
    **fields: str,
) -> list[Part]:
    """The parts of a `POST /v1/jobs`: dockerfile, one `files` part per path, context, fields."""
    parts = [] if dockerfile is None else [upload("dockerfile", "Dockerfile", dockerfile)]
    parts += [upload("files", path, data) for path, data in (files or {}).items()]
    if context is not None:
        parts.append(upload("context", *context))
    parts += [text(name, value) for name, value in fields.items()]
    return parts


# --- tar contexts ------------------------------------------------------------------------


def regular(name: str, data: bytes | str) -> tuple[tarfile.TarInfo, bytes]:
    payload = data.encode() if isinstance(data, str) else data
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    return info, payload


def directory(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, b""


def link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def char_device(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, b""


def tar(members: Iterable[tuple[tarfile.TarInfo, bytes]], gzip: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz" if gzip else "w", format=tarfile.GNU_FORMAT
    ) as archive:
        for info, payload in members:
            archive.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    return buffer.getvalue()


def repeat(block: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes made of `block`, without ever holding more than one block."""
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece
