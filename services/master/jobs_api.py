"""The v1 job endpoints of API.md."""

from __future__ import annotations

import mimetypes
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dccf import filestore, job_records
from dccf.filestore import FileKind
from services.master import context, models, params, submission
from services.master.errors import Conflict, NotFound
from services.master.job_form import FILE_PARTS
from services.master.job_json import job_model
from services.master.job_reads import get_job, render_logs, wait_for_job
from services.master.output_archive import tar_gz
from services.master.responses import ModelResponse


def accepted(result: submission.Accepted) -> Response:
    job = result.job
    return ModelResponse(
        job_model(job),
        status_code=201 if result.created else 200,
        headers={"Location": f"/v1/jobs/{job.id}"},
    )


async def submit_job(request: Request) -> Response:
    key = submission.idempotency_key(request)
    async with submission.multipart_form(request) as form:
        result = await submission.accept(
            request,
            dockerfile=submission.single_file(form, "dockerfile"),
            files=submission.file_parts(form, "files"),
            archive=submission.single_file(form, "context"),
            fields=submission.text_fields(form, set(FILE_PARTS)),
            idempotency_key=key,
        )
    return accepted(result)


async def submit_demo(request: Request) -> Response:
    return accepted(await submission.accept_demo(request))


def cancel_job(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    owner = context.principal(request)
    with ctx.pool.connection() as conn:
        job = job_records.request_cancel(conn, job_id, owner)
    if job is None:
        finished = get_job(ctx, job_id, owner)
        raise Conflict(f"job {job_id} already ended {finished.status}; nothing to cancel")
    return ModelResponse(job_model(job), status_code=202)


def delete_job(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    owner = context.principal(request)
    with ctx.pool.connection() as conn:
        deleted = job_records.delete_terminal(conn, job_id, owner)
    if not deleted:
        job = get_job(ctx, job_id, owner)
        raise Conflict(f"job {job_id} is {job.status}; cancel it and wait for it to end first")
    return Response(status_code=204)


def list_jobs(request: Request) -> Response:
    ctx = context.of(request)
    limit = params.int_query(request, "limit", 50, 1, 200)
    order = params.order_query(request)
    with ctx.pool.connection() as conn:
        jobs = job_records.page(
            conn,
            principal=context.principal(request),
            status=params.status_query(request),
            priority=params.priority_query(request),
            limit=limit,
            before=params.cursor_query(request, order),
            order=order,
        )
    last = jobs[-1] if len(jobs) == limit else None
    next_cursor = job_records.Cursor.after(last).encode(order) if last else None
    return ModelResponse(models.JobPage(jobs=[job_model(j) for j in jobs], next=next_cursor))


async def read_job(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    wait = params.int_query(request, "wait", 0, 0, ctx.settings.master.max_wait_seconds)
    owner = context.principal(request)
    if wait:
        job = await wait_for_job(ctx, job_id, owner, wait)
    else:
        job = await run_in_threadpool(get_job, ctx, job_id, owner)
    return ModelResponse(job_model(job))


def read_logs(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    stream = params.stream_query(request)
    get_job(ctx, job_id, context.principal(request))
    with ctx.pool.connection() as conn:
        logs = job_records.logs(conn, job_id)
    return PlainTextResponse(render_logs(logs, stream))


def list_outputs(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    get_job(ctx, job_id, context.principal(request))
    with ctx.pool.connection() as conn:
        files = filestore.listing(conn, job_id, FileKind.OUTPUT)
    return ModelResponse(
        models.OutputList([models.OutputFile(f.path, f.size, f.sha256) for f in files])
    )


def download_output(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    path = request.path_params["path"]
    get_job(ctx, job_id, context.principal(request))
    with ctx.pool.connection() as conn:
        stored = filestore.find(conn, job_id, FileKind.OUTPUT, path)
    if stored is None:
        raise NotFound(f"job {job_id} has no output file {path[:200]!r}", code="no_such_output")
    media_type = mimetypes.guess_type(stored.path)[0] or "application/octet-stream"
    return StreamingResponse(
        filestore.chunks(ctx.pool, stored.id),
        media_type=media_type,
        headers={"Content-Length": str(stored.size), "X-Checksum-SHA256": stored.sha256},
    )


def download_archive(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    job = get_job(ctx, job_id, context.principal(request))
    with ctx.pool.connection() as conn:
        files = filestore.listing(conn, job_id, FileKind.OUTPUT)
    mtime = (job.finished_at or job.created_at).timestamp()
    return StreamingResponse(
        tar_gz(files, partial(filestore.chunks, ctx.pool), mtime),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}-outputs.tar.gz"'},
    )


routes = [
    Route("/v1/jobs", submit_job, methods=["POST"]),
    Route("/v1/jobs", list_jobs, methods=["GET"]),
    Route("/v1/jobs/{id}", read_job, methods=["GET"]),
    Route("/v1/jobs/{id}", delete_job, methods=["DELETE"]),
    Route("/v1/jobs/{id}/cancel", cancel_job, methods=["POST"]),
    Route("/v1/jobs/{id}/logs", read_logs, methods=["GET"]),
    Route("/v1/jobs/{id}/outputs", list_outputs, methods=["GET"]),
    Route("/v1/jobs/{id}/outputs.tar.gz", download_archive, methods=["GET"]),
    Route("/v1/jobs/{id}/outputs/{path:path}", download_output, methods=["GET"]),
    Route("/v1/demo", submit_demo, methods=["POST"]),
]
