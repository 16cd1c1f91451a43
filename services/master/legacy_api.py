"""The original DCCF's four endpoints, kept working for its existing clients."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dccf import filestore, job_records
from dccf.filestore import FileKind
from dccf.jobs import LogStream
from services.master import context, params, submission
from services.master.errors import InvalidInput
from services.master.job_reads import get_job
from services.master.models import LegacyFile
from services.master.responses import ModelResponse


def _job_id_param(request: Request) -> int:
    raw = request.query_params.get("jobId")
    if raw is None:
        raise InvalidInput("the jobId query parameter is required", code="invalid_parameter")
    return params.job_id(raw)


async def submit(request: Request) -> Response:
    async with submission.multipart_form(request) as form:
        # The original stored the form field name instead of the file name; task files
        # keep their own names here.
        result = await submission.accept(
            request,
            dockerfile=submission.single_file(form, "dockerFile"),
            files=submission.file_parts(form, "taskFiles"),
            archive=None,
            fields=submission.text_fields(form, {"dockerFile", "taskFiles"}),
        )
    return ModelResponse(result.job.id)


async def submit_demo(request: Request) -> Response:
    return ModelResponse((await submission.accept_demo(request)).job.id)


def job_status(request: Request) -> Response:
    job = get_job(context.of(request), _job_id_param(request), context.principal(request))
    return ModelResponse(job.status.legacy)


def resulting_files(request: Request) -> Response:
    ctx = context.of(request)
    job_id = _job_id_param(request)
    get_job(ctx, job_id, context.principal(request))
    with ctx.pool.connection() as conn:
        logs = job_records.logs(conn, job_id)
        outputs = filestore.listing(conn, job_id, FileKind.OUTPUT)
    result = [
        LegacyFile(fileId=number, fileType="LOG", name=f"{stream}.log", fileData=logs[stream])
        for number, stream in enumerate(LogStream, start=1)
        if stream in logs
    ]
    for stored in outputs:
        data = b"".join(filestore.chunks(ctx.pool, stored.id))
        result.append(
            LegacyFile(fileId=stored.id, fileType="RETURN", name=stored.path, fileData=data)
        )
    return ModelResponse(result)


routes = [
    Route("/submit", submit, methods=["POST"]),
    Route("/submitDemo", submit_demo, methods=["POST"]),
    Route("/getJobStatus", job_status, methods=["GET", "POST"]),
    Route("/getResultingFiles", resulting_files, methods=["GET", "POST"]),
]
