"""The entries of a job's build context and the rules they obey (API.md): path spelling, one
Dockerfile, no path twice, no file where a folder is needed, and the caps on count and size.

The parts of an upload (the dockerfile part, files parts, the context archive) all add their
entries through `Contents`, so a rule that spans parts is checked in one place.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import IO

from dccf import paths, settings
from services.master.errors import InvalidInput, PayloadTooLarge

DOCKERFILE = "Dockerfile"
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_ENTRIES = 10_000
MAX_TOTAL_PATH_BYTES = 2 * 1024 * 1024

# Where an entry came from, as error messages name it.
DOCKERFILE_PART = "the dockerfile part"
FILES_PART = "a files part"
CONTEXT_ORIGIN = "the context archive"


@dataclass(frozen=True)
class File:
    """Where one file's data lives: `size` bytes at `offset` of `source`, from `origin`."""

    origin: str
    source: IO[bytes]
    offset: int
    size: int
    mode: int


def check_path(name: str, what: str = "path") -> str:
    """Return `name` as a normalised path inside the context, or raise `InvalidInput`."""

    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"{what} {name!r} {reason}", code="invalid_path")

    if not name:
        raise bad("is empty")
    try:
        paths.relative_parts(name)
    except paths.UnsafePath as exc:
        raise bad(exc.reason) from None
    # Stricter than the shared rules: the context's paths are written back as they came, so
    # the one spelling of each is required.
    path = name.removeprefix("./")
    if not path:
        raise bad("is empty")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise bad(f"is longer than {MAX_PATH_BYTES} bytes")
    for part in path.split("/"):
        if not part:
            raise bad("has an empty component (a doubled, leading or trailing '/')")
        if part == ".":
            raise bad("has a '.' component; give the plain relative path")
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise bad(f"has a component longer than {MAX_COMPONENT_BYTES} bytes")
    return path


class Contents:
    """Every path of the context so far and where its data lives; the rules that span parts."""

    def __init__(self, limits: settings.Limits) -> None:
        self._limits = limits
        self.files: dict[str, File] = {}
        self.dirs: set[str] = set()
        self._data_bytes = 0
        self._path_bytes = 0

    def add_file(self, path: str, file: File) -> None:
        self._count(path)
        first = self.files.get(path)
        if first is not None:
            if path == DOCKERFILE and DOCKERFILE_PART in (first.origin, file.origin):
                other = file.origin if first.origin == DOCKERFILE_PART else first.origin
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
                f"the build context holds more than {mib(self._limits.max_upload_bytes)} of "
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

    def finish(self) -> list[tuple[str, File | None]]:
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
        entries: list[tuple[str, File | None]] = [*self.files.items()]
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
                f"the build context's paths add up to more than {mib(MAX_TOTAL_PATH_BYTES)}; "
                "use fewer files or shorter paths",
                code="too_many_files",
            )


def _conflict(path: str, beneath: str) -> InvalidInput:
    return InvalidInput(
        f"path {path!r} is a file, but {beneath!r} needs it to be a folder",
        code="path_conflict",
    )


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"
