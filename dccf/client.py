"""A synchronous Python client for the DCCF master's REST API (see API.md).

    DccfError            status, code, message: an error answer of the API, or one of:
    ├── Unreachable      the master could not be reached or did not answer in time
    └── WaitTimeout      `wait()` ran out of time; `.job` is the last state seen

Packing errors of `submit()` are `dccf.packing.PackingError` (a ValueError): they are the
caller's input, not the server's answer.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import quote

import httpx

from dccf import settings
from dccf.jobs import TERMINAL
from dccf.packing import PackingError, UnsafeArchive, extract_archive, pack_context

Job = dict[str, Any]
FileSource = bytes | str | os.PathLike[str]

TRANSIENT_STATUSES = frozenset({502, 503, 504})
WAIT_RETRIES = 5
CHUNK = 64 * 1024


class DccfError(Exception):
    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status else ""
        return f"{prefix}{self.code}: {self.message}"


class Unreachable(DccfError):
    def __init__(self, message: str) -> None:
        super().__init__(None, "unreachable", message)


class WaitTimeout(DccfError):
    def __init__(self, job: Job, seconds: float) -> None:
        super().__init__(
            None,
            "wait_timeout",
            f"job {job['id']} is still {job['status']} after {seconds:g} s of waiting",
        )
        self.job = job


def _error_from(response: httpx.Response) -> DccfError:
    try:
        error = response.json()["error"]
        return DccfError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return DccfError(response.status_code, f"http_{response.status_code}", text)


def _json(response: httpx.Response) -> dict[str, Any]:
    """The body's JSON object; every endpoint the client calls answers one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise DccfError(
            response.status_code,
            "bad_response",
            f"{response.request.url} answered {response.status_code} without a JSON object: is "
            "the URL a DCCF master?",
        )
    return body


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


def is_terminal(job: Job) -> bool:
    return job["status"] in TERMINAL


class DccfClient:
    """One connection pool to one master; use it as a context manager or call `close()`."""

    # A server that ignores `?wait=` must not turn `wait()` into a busy loop.
    min_poll_interval = 1.0

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the DCCF URL must start with http:// or https:// (got {url!r})")
        self.url = url.rstrip("/")
        self.timeout = timeout
        headers = {"User-Agent": "dccf-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, **overrides: Any) -> DccfClient:
        """A client for DCCF_URL with DCCF_TOKEN; keyword arguments override either."""
        client = settings.Client()
        overrides.setdefault("url", client.url)
        overrides.setdefault("token", client.token or None)
        return cls(**overrides)

    def __enter__(self) -> DccfClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Turn httpx's transport failures into Unreachable naming the master's URL."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise Unreachable(
                f"cannot reach the DCCF master at {self.url}: is it running? "
                f"set DCCF_URL or --url ({exc})"
            ) from exc
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"the DCCF master at {self.url} did not answer in time while {action}"
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                f"the connection to the DCCF master at {self.url} failed while {action} ({exc})"
            ) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._translated(f"calling {method} {path}"):
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise _error_from(response)
        return response

    def _download(self, path: str, out: IO[bytes]) -> int:
        """Stream a GET body into `out`; return the byte count, checked against Content-Length."""
        with self._translated(f"downloading {path}"), self._http.stream("GET", path) as response:
            if response.is_error:
                response.read()
                raise _error_from(response)
            written = 0
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                written += len(chunk)
            # With a Content-Encoding, Content-Length counts encoded bytes: nothing to compare.
            encoded = response.headers.get("Content-Encoding", "identity") != "identity"
            expected = response.headers.get("Content-Length")
        if not encoded and expected is not None and expected.isdigit() and int(expected) != written:
            raise DccfError(
                None, "short_download", f"{path}: got {written} of {expected} bytes; try again"
            )
        return written

    def submit(
        self,
        context: str | os.PathLike[str] | bytes | None = None,
        *,
        files: Mapping[str, FileSource] | None = None,
        dockerfile: FileSource | None = None,
        name: str | None = None,
        priority: int | None = None,
        timeout_seconds: int | None = None,
        memory_mb: int | None = None,
        cpus: float | None = None,
        network: str | None = None,
        callback_url: str | None = None,
        build_args: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        on_packed: Callable[[int, int], None] | None = None,
    ) -> Job:
        """Create a job; return the job object (201, or 200 for a repeated idempotency key).

        `context` is a directory (packed into a gzip tar in a temporary file and streamed), a
        `.tar`/`.tar.gz` file, or the bytes of one. `files` maps build-context paths to their
        content. `dockerfile` and each file are text or bytes (the content) or a Path (read
        from disk). A directory's root `Dockerfile` is left out when `dockerfile` is given.
        `on_packed(file_count, upload_bytes)` is called once a directory has been packed.
        """
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
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        parts: list[tuple[str, tuple[str, bytes | IO[bytes], str]]] = []
        if dockerfile is not None:
            parts.append(("dockerfile", ("Dockerfile", _content(dockerfile), "text/plain")))
        for path, source in (files or {}).items():
            parts.append(("files", (path, _content(source), "application/octet-stream")))
        with ExitStack() as stack:
            if context is not None:
                filename, media_type, body = self._context_part(
                    context, dockerfile, stack, on_packed
                )
                parts.append(("context", (filename, body, media_type)))
            response = self._request("POST", "/v1/jobs", data=data, files=parts, headers=headers)
        return _json(response)

    @staticmethod
    def _context_part(
        context: str | os.PathLike[str] | bytes,
        dockerfile: FileSource | None,
        stack: ExitStack,
        on_packed: Callable[[int, int], None] | None,
    ) -> tuple[str, str, bytes | IO[bytes]]:
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

    def submit_demo(self) -> Job:
        return _json(self._request("POST", "/v1/demo"))

    def job(self, job_id: int, wait: int | None = None) -> Job:
        """The job now, or with `wait` (0..60 s) as soon as it is terminal or `wait` s passed."""
        if wait is None:
            return _json(self._request("GET", f"/v1/jobs/{job_id}"))
        return _json(
            self._request(
                "GET",
                f"/v1/jobs/{job_id}",
                params={"wait": wait},
                timeout=httpx.Timeout(self.timeout, read=self.timeout + wait),
            )
        )

    def wait(
        self,
        job_id: int,
        timeout: float | None = None,
        on_progress: Callable[[Job], None] | None = None,
        poll_seconds: int = 10,
    ) -> Job:
        """Long-poll until the job is terminal and return it; `on_progress` sees every answer.

        Raises WaitTimeout after `timeout` seconds (None: wait for ever). A few consecutive
        502/503/504 answers or connection failures are retried with back-off, so a master
        restarting behind a load balancer does not end the wait.
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        failures = 0
        job: Job | None = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0 and job is not None:
                raise WaitTimeout(job, timeout or 0)
            step = poll_seconds if remaining is None else max(0, min(poll_seconds, remaining))
            asked = time.monotonic()
            try:
                job = self.job(job_id, wait=math.ceil(step))
            except DccfError as exc:
                transient = isinstance(exc, Unreachable) or exc.status in TRANSIENT_STATUSES
                failures += 1
                if not transient or failures > WAIT_RETRIES:
                    raise
                time.sleep(min(2.0 ** (failures - 1), 8.0))
                continue
            failures = 0
            if on_progress is not None:
                on_progress(job)
            if is_terminal(job):
                return job
            pause = self.min_poll_interval - (time.monotonic() - asked)
            if pause > 0:
                time.sleep(pause)

    def jobs(
        self,
        status: str | None = None,
        limit: int | None = None,
        before: str | None = None,
        *,
        priority: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """One page, newest first (or `order="priority"`): `{"jobs": [...], "next": cursor}`."""
        params = {
            key: value
            for key, value in (
                ("status", status),
                ("priority", priority),
                ("order", order),
                ("limit", limit),
                ("before", before),
            )
            if value is not None
        }
        return _json(self._request("GET", "/v1/jobs", params=params))

    def iter_jobs(
        self,
        status: str | None = None,
        page_size: int | None = None,
        *,
        priority: int | None = None,
        order: str | None = None,
    ) -> Iterator[Job]:
        """Every job in the page order, following the `next` cursor page by page."""
        cursor: str | None = None
        while True:
            page = self.jobs(
                status=status, limit=page_size, before=cursor, priority=priority, order=order
            )
            yield from page["jobs"]
            cursor = page.get("next")
            if not cursor:
                return

    def logs(self, job_id: int, stream: str | None = None) -> str:
        params = {"stream": stream} if stream else {}
        return self._request("GET", f"/v1/jobs/{job_id}/logs", params=params).text

    def outputs(self, job_id: int) -> list[dict[str, Any]]:
        """The files the job wrote under /output: `[{"path", "size", "sha256"}, ...]`."""
        response = self._request("GET", f"/v1/jobs/{job_id}/outputs")
        files: list[dict[str, Any]] = _json(response)["files"]
        return files

    def download_output(self, job_id: int, path: str, dest: str | os.PathLike[str]) -> Path:
        """Stream one output file to the file `dest`; a broken transfer leaves no file behind."""
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as out:
                self._download(f"/v1/jobs/{job_id}/outputs/{quote(path)}", out)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def download_archive(
        self, job_id: int, dest_dir: str | os.PathLike[str]
    ) -> list[tuple[str, int]]:
        """Fetch every output as one tar.gz and unpack it into `dest_dir`.

        Returns (path, size) per file. Members that are not plain files or directories, or
        that would land outside `dest_dir`, make the whole archive refused before any write.
        """
        with tempfile.TemporaryFile(prefix="dccf-outputs-") as spool:
            self._download(f"/v1/jobs/{job_id}/outputs.tar.gz", spool)
            spool.seek(0)
            try:
                return extract_archive(spool, Path(dest_dir))
            except UnsafeArchive as exc:
                raise DccfError(None, "unsafe_archive", str(exc)) from exc
            except (tarfile.TarError, gzip.BadGzipFile, EOFError) as exc:
                raise DccfError(None, "bad_archive", f"job {job_id}'s archive: {exc}") from exc

    def cancel(self, job_id: int) -> Job:
        return _json(self._request("POST", f"/v1/jobs/{job_id}/cancel"))

    def delete(self, job_id: int) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def resubmit(self, job_id: int) -> Job:
        """A new job with the first one's build context, name, limits and build args."""
        return _json(self._request("POST", f"/v1/jobs/{job_id}/resubmit"))

    def workers(self) -> list[dict[str, Any]]:
        """The workers registry: `[{"id", "state", "host", "version", "slots", "jobs", ...}]`;
        `jobs` holds only this caller's running jobs."""
        workers: list[dict[str, Any]] = _json(self._request("GET", "/v1/workers"))["workers"]
        return workers

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/"
