"""A synchronous Python client for the DCCF master's REST API (see API.md).

Its errors (`DccfError`, `Unreachable`, `WaitTimeout`) are drawn in `dccf.client_errors`.

Packing errors of `submit()` are `dccf.packing.PackingError` (a ValueError): they are the
caller's input, not the server's answer.
"""

from __future__ import annotations

import gzip
import math
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from dccf import settings, upload
from dccf.backoff import Backoff
from dccf.client_errors import DccfError, Job, Unreachable, WaitTimeout, error_from, json_body
from dccf.jobs import TERMINAL
from dccf.packing import UnsafeArchive, extract_archive
from dccf.upload import FileSource

__all__ = [
    "DccfClient",
    "DccfError",
    "FileSource",
    "Job",
    "Unreachable",
    "WaitTimeout",
    "is_terminal",
]

TRANSIENT_STATUSES = frozenset({502, 503, 504})
WAIT_RETRIES = 5
CHUNK = 64 * 1024


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
            raise error_from(response)
        return response

    def _download(self, path: str, out: IO[bytes]) -> int:
        """Stream a GET body into `out`; return the byte count, checked against Content-Length."""
        with self._translated(f"downloading {path}"), self._http.stream("GET", path) as response:
            if response.is_error:
                response.read()
                raise error_from(response)
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
        data = upload.form_fields(
            name=name,
            priority=priority,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            cpus=cpus,
            network=network,
            callback_url=callback_url,
            build_args=build_args,
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        parts = upload.file_parts(dockerfile, files)
        with ExitStack() as stack:
            if context is not None:
                filename, media_type, body = upload.context_part(
                    context, dockerfile, stack, on_packed
                )
                parts.append(("context", (filename, body, media_type)))
            response = self._request("POST", "/v1/jobs", data=data, files=parts, headers=headers)
        return json_body(response)

    def submit_demo(self) -> Job:
        return json_body(self._request("POST", "/v1/demo"))

    def job(self, job_id: int, wait: int | None = None) -> Job:
        """The job now, or with `wait` (0..60 s) as soon as it is terminal or `wait` s passed."""
        if wait is None:
            return json_body(self._request("GET", f"/v1/jobs/{job_id}"))
        return json_body(
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
        backoff = Backoff(first=1.0, cap=8.0)
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
                time.sleep(backoff.delay())
                continue
            failures = 0
            backoff.reset()
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
        return json_body(self._request("GET", "/v1/jobs", params=params))

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
        files: list[dict[str, Any]] = json_body(self._request("GET", f"/v1/jobs/{job_id}/outputs"))[
            "files"
        ]
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
        return json_body(self._request("POST", f"/v1/jobs/{job_id}/cancel"))

    def delete(self, job_id: int) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def resubmit(self, job_id: int) -> Job:
        """A new job with the first one's build context, name, limits and build args."""
        return json_body(self._request("POST", f"/v1/jobs/{job_id}/resubmit"))

    def workers(self) -> list[dict[str, Any]]:
        """The workers registry: `[{"id", "state", "host", "version", "slots", "jobs", ...}]`;
        `jobs` holds only this caller's running jobs."""
        workers: list[dict[str, Any]] = json_body(self._request("GET", "/v1/workers"))["workers"]
        return workers

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/"
