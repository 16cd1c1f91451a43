"""Accepting a job: read the multipart form within the caps, validate all of it, store the
job and its build context in one transaction, then notify the workers.

A job with a small context and no idempotency key (nearly all of them) is stored by the group
commit of `job_writer`, in one statement with the jobs submitted beside it.

Nothing is written before every rule has passed, so a rejected request stores nothing.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass

from pg8000.exceptions import DatabaseError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from dccf import filestore, job_records
from dccf.filestore import CONTEXT_PATH, FileKind
from dccf.job_records import JobRecord, NewJob
from services.master import context
from services.master.body_limit import too_large
from services.master.build_context import ContextTar, Upload, build_context
from services.master.errors import InvalidInput, UnsupportedMedia
from services.master.job_form import JobRequest, parse_job_fields

# A body this small is all in memory, and its context is built on the event loop.
_INLINE_BODY_BYTES = 64 * 1024
# Text parts are small; file parts spool to disk past 1 MiB (Starlette's UploadFile).
_MAX_TEXT_PART = 64 * 1024
_MAX_PARTS = 10_000
_MAX_KEY = 200


@asynccontextmanager
async def multipart_form(request: Request) -> AsyncIterator[FormData]:
    """The request's form, within the upload cap; temporary files are removed on exit."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMedia(
            f"this endpoint takes multipart/form-data, got {content_type or 'no content type'!r}"
        )
    limit = context.of(request).settings.limits.max_upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit)
    async with aclosing(request.stream()) as stream:
        parser = _WholeFormParser(
            request.headers,
            stream,
            max_files=_MAX_PARTS,
            max_fields=_MAX_PARTS,
            max_part_size=_MAX_TEXT_PART,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise _malformed(exc.message.rstrip(".")) from None
    try:
        yield form
    finally:
        await form.close()


class _WholeFormParser(MultiPartParser):
    """Starlette's parser, refusing a body that ends before its closing boundary.

    python-multipart takes such a body and drops the unfinished part without a word: a cut-short
    upload would become a job with a file missing. It calls `on_end` only at the closing
    boundary (`--boundary--`). The check runs inside the parser's read loop, so a refusal
    closes the temporary files of every part, finished or not.
    """

    def __init__(self, headers: Headers, stream: AsyncIterator[bytes], **limits: int) -> None:
        self.ended = False
        super().__init__(headers, self._whole(stream), **limits)

    async def _whole(self, stream: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        async for chunk in stream:
            yield chunk
        if not self.ended:
            raise MultiPartException(
                "it ends before the closing boundary, so its last part is incomplete or missing"
            )

    def on_end(self) -> None:
        self.ended = True


def _malformed(detail: str) -> InvalidInput:
    return InvalidInput(
        f"the multipart/form-data body is malformed: {detail}; send it as an HTTP client "
        "library builds it (curl -F, requests, httpx)",
        code="invalid_multipart",
    )


def file_parts(form: FormData, name: str) -> list[Upload]:
    uploads = []
    for value in form.getlist(name):
        if not isinstance(value, UploadFile):
            raise InvalidInput(f"the {name!r} part must be a file upload with a filename")
        uploads.append(Upload(filename=_filename(value), file=value.file))
    return uploads


def _filename(upload: UploadFile) -> str:
    """The filename as sent, with bytes that are not UTF-8 kept as lone surrogates.

    Starlette falls back to Latin-1 for such a filename, so a name in any other encoding would
    become a different, garbled path without a word; kept apart, the path rules refuse it as
    not UTF-8, as they do for a context archive's member names.
    """
    disposition = next((v for k, v in upload.headers.raw if k == b"content-disposition"), b"")
    raw = parse_options_header(disposition)[1].get(b"filename", b"")
    return raw.decode("utf-8", "surrogateescape")


def single_file(form: FormData, name: str) -> Upload | None:
    uploads = file_parts(form, name)
    if len(uploads) > 1:
        raise InvalidInput(f"send at most one {name!r} part, got {len(uploads)}")
    return uploads[0] if uploads else None


def text_fields(form: FormData, file_names: set[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if key in file_names:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"unexpected file part {key!r}; files go in 'files' or 'context'")
        if key in fields:
            raise InvalidInput(f"the field {key!r} is given more than once")
        fields[key] = value
    return fields


async def accept(
    request: Request,
    *,
    dockerfile: Upload | None,
    files: list[Upload],
    archive: Upload | None,
    fields: dict[str, str],
    idempotency_key: str | None = None,
) -> Accepted:
    """Validate, store and publish one job; raises an ApiError and stores nothing if invalid.

    With an idempotency key already used by this principal in the last 24 h, the first job
    comes back instead (created=False) and nothing new is stored.
    """
    ctx = context.of(request)
    owner = context.principal(request)
    started = time.perf_counter()
    job_request = parse_job_fields(fields, ctx.settings.limits)
    limits = ctx.settings.limits
    if idempotency_key is not None:
        accepted = await run_in_threadpool(
            _accept_once, ctx, owner, job_request, idempotency_key, dockerfile, files, archive
        )
    else:
        if archive is None and _body_bytes(request) <= _INLINE_BODY_BYTES:
            # All in memory and a few microseconds of work: a thread would cost more.
            tar = build_context(dockerfile, files, archive, limits)
        else:
            tar = await run_in_threadpool(build_context, dockerfile, files, archive, limits)
        try:
            if tar.size <= filestore.CHUNK_BYTES:
                # The writer hands the notice over before it answers.
                job = _new_job(owner, job_request, None, tar.file.read())
                accepted = Accepted(await ctx.writer.insert(job), created=True)
            else:
                record = await run_in_threadpool(_store, ctx, owner, job_request, tar, None)
                ctx.notifier.publish(record.id)
                accepted = Accepted(record, created=True)
        finally:
            tar.file.close()
    if accepted.created:
        ctx.metrics.submit_seconds.observe(time.perf_counter() - started)
    return accepted


def _body_bytes(request: Request) -> float:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else math.inf


def _accept_once(
    ctx: context.MasterContext,
    owner: str,
    job_request: JobRequest,
    key: str,
    dockerfile: Upload | None,
    files: list[Upload],
    archive: Upload | None,
) -> Accepted:
    """A job with an idempotency key, stored on its own: a repeated key must fail no other
    job's insert."""
    with ctx.pool.connection() as conn:
        earlier = job_records.by_idempotency_key(conn, owner, key)
    if earlier is not None:
        return Accepted(earlier, created=False)
    tar = build_context(dockerfile, files, archive, ctx.settings.limits)
    try:
        record = _store(ctx, owner, job_request, tar, key)
    except DatabaseError as exc:
        if not _is_unique_violation(exc):
            raise
        # A concurrent request with the same key won the insert.
        with ctx.pool.connection() as conn:
            winner = job_records.by_idempotency_key(conn, owner, key)
        if winner is None:
            raise
        return Accepted(winner, created=False)
    finally:
        tar.file.close()
    ctx.notifier.publish(record.id)
    return Accepted(record, created=True)


@dataclass(frozen=True)
class Accepted:
    job: JobRecord
    created: bool


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= _MAX_KEY or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {_MAX_KEY} printable ASCII characters without spaces",
            code="invalid_header",
        )
    return key


def _is_unique_violation(exc: DatabaseError) -> bool:
    return bool(exc.args) and isinstance(exc.args[0], dict) and exc.args[0].get("C") == "23505"


def _new_job(owner: str, job_request: JobRequest, key: str | None, tar: bytes | None) -> NewJob:
    """The one mapping of a request onto a job's fields; `tar` is a context of one chunk at
    most, stored with the job, or None when the context is stored on its own."""
    return NewJob(
        principal=owner,
        name=job_request.name,
        limits=job_request.limits,
        callback_url=job_request.callback_url,
        build_args=job_request.build_args,
        priority=job_request.priority,
        idempotency_key=key,
        small_file=None if tar is None else (FileKind.CONTEXT, CONTEXT_PATH, tar),
    )


def _store(
    ctx: context.MasterContext,
    owner: str,
    job_request: JobRequest,
    tar: ContextTar,
    key: str | None,
) -> JobRecord:
    """A job stored on its own transaction: one with an idempotency key, or one whose
    context is larger than a chunk."""
    if tar.size <= filestore.CHUNK_BYTES:
        job = _new_job(owner, job_request, key, tar.file.read())
        with ctx.pool.connection() as conn:
            return job_records.insert(conn, job)
    with ctx.pool.transaction() as conn:
        record = job_records.insert(conn, _new_job(owner, job_request, key, None))
        filestore.store(conn, record.id, FileKind.CONTEXT, CONTEXT_PATH, tar.file)
    return record


async def accept_demo(request: Request) -> Accepted:
    demo = context.of(request).demo_files
    dockerfile = Upload(filename="Dockerfile", file=io.BytesIO(demo["Dockerfile"]))
    files = [
        Upload(filename=path, file=io.BytesIO(data))
        for path, data in demo.items()
        if path != "Dockerfile"
    ]
    return await accept(
        request, dockerfile=dockerfile, files=files, archive=None, fields={"name": "demo"}
    )
