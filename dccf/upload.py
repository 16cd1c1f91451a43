"""The multipart parts of a job submission: text fields, file parts and the context archive."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, BinaryIO

from dccf.packing import PackingError, pack_context

FileSource = bytes | str | os.PathLike[str]
# (part name, (filename, body, media type)), as httpx takes `files=`.
Part = tuple[str, tuple[str, bytes | IO[bytes], str]]


def form_fields(
    *,
    name: str | None,
    priority: int | None,
    timeout_seconds: int | None,
    memory_mb: int | None,
    cpus: float | None,
    network: str | None,
    callback_url: str | None,
    build_args: Mapping[str, str] | None,
) -> dict[str, str]:
    """The text parts: only the fields given, so the master's defaults apply to the rest."""
    data: dict[str, str] = {}
    for key, value in (
        ("name", name),
        ("priority", priority),
        ("timeout_seconds", timeout_seconds),
        ("memory_mb", memory_mb),
        ("cpus", None if cpus is None else _decimal(cpus)),
        ("network", network),
        ("callback_url", callback_url),
    ):
        if value is not None:
            data[key] = str(value)
    if build_args:
        data["build_args"] = json.dumps(dict(build_args))
    return data


def file_parts(dockerfile: FileSource | None, files: Mapping[str, FileSource] | None) -> list[Part]:
    parts: list[Part] = []
    if dockerfile is not None:
        parts.append(("dockerfile", ("Dockerfile", _content(dockerfile), "text/plain")))
    for path, source in (files or {}).items():
        parts.append(("files", (path, _content(source), "application/octet-stream")))
    return parts


def context_part(
    context: str | os.PathLike[str] | bytes,
    dockerfile: FileSource | None,
    stack: ExitStack,
    on_packed: Callable[[int, int], None] | None,
) -> tuple[str, str, bytes | IO[bytes]]:
    """(filename, media type, body) of the context part; a directory is packed into a gzip tar
    in a temporary file that `stack` closes."""
    if isinstance(context, bytes):
        return (*_archive_name(context[:2]), context)
    path = Path(context)
    if path.is_file():
        handle: BinaryIO = stack.enter_context(path.open("rb"))
        magic = handle.read(2)
        handle.seek(0)
        return (*_archive_name(magic), handle)
    if dockerfile is None and not (path / "Dockerfile").is_file():
        raise PackingError(
            f"{path} has no Dockerfile at its root: add one, or name another file with "
            "-f/--dockerfile"
        )
    spool = stack.enter_context(tempfile.TemporaryFile(prefix="dccf-context-"))  # noqa: SIM115
    count = pack_context(path, spool, skip={"Dockerfile"} if dockerfile is not None else ())
    size = spool.tell()
    spool.seek(0)
    if on_packed is not None:
        on_packed(count, size)
    return ("context.tar.gz", "application/gzip", spool)


def _decimal(value: float) -> str:
    """A plain decimal: str(0.1 + 0.2) has 17 digits, and 1e-05 is not one the API takes."""
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _archive_name(magic: bytes) -> tuple[str, str]:
    """Part filename and media type of a tar that is gzip-compressed or not."""
    if magic == b"\x1f\x8b":
        return "context.tar.gz", "application/gzip"
    return "context.tar", "application/x-tar"


def _content(source: FileSource) -> bytes:
    """Text and bytes are the content itself; a path (Path/PathLike) is read from disk."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str):
        return source.encode()
    return Path(source).read_bytes()
