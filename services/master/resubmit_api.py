"""`POST /v1/jobs/{id}/resubmit`: run a job again, as a new job with the same build context,
name, limits, build args and callback URL.

The context is copied inside Postgres, so resubmitting needs neither the files nor a new
upload (the dashboard's Resubmit button), and works for a job of any status.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dccf import filestore, job_records
from dccf.filestore import FileKind
from dccf.job_records import JobRecord, NewJob
from services.master import context, params
from services.master.errors import NotFound
from services.master.jobs_api import accepted
from services.master.submission import Accepted


def _copy(ctx: context.MasterContext, job_id: int, owner: str) -> JobRecord:
    with ctx.pool.transaction() as conn:
        old = job_records.get(conn, job_id, owner)
        if old is None:
            raise NotFound(f"no job with id {job_id}")
        new = job_records.insert(
            conn,
            NewJob(
                principal=owner,
                name=old.name,
                limits=old.limits,
                callback_url=old.callback_url,
                build_args=old.build_args,
            ),
        )
        filestore.copy(conn, old.id, new.id, FileKind.CONTEXT)
    return new


async def resubmit_job(request: Request) -> Response:
    ctx = context.of(request)
    job_id = params.job_id(request.path_params["id"])
    job = await run_in_threadpool(_copy, ctx, job_id, context.principal(request))
    ctx.notifier.publish(job.id)
    return accepted(Accepted(job, created=True))


routes = [Route("/v1/jobs/{id}/resubmit", resubmit_job, methods=["POST"])]
