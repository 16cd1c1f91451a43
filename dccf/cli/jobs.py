"""Commands on jobs that exist: status, logs, results, list, cancel, delete."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dccf.cli import options
from dccf.cli.console import EXIT_OK, err, out, print_json, print_table
from dccf.cli.follow import follow
from dccf.client import DccfClient
from dccf.human import human_size
from dccf.jobs import JobStatus, LogStream


def cmd_status(client: DccfClient, args: argparse.Namespace) -> int:
    job = client.job(args.id)
    if args.wait:
        return follow(client, job, args)
    if args.json:
        print_json(job)
        return EXIT_OK
    limits = job.get("limits") or {}
    rows = [
        ("job", f"{job['id']}  {job.get('name') or ''}".rstrip()),
        ("status", job["status"]),
        ("reason", job.get("reason")),
        ("exit code", job.get("exit_code")),
        ("attempt", job.get("attempt")),
        ("worker", job.get("worker")),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
        (
            "limits",
            f"timeout {limits.get('timeout_seconds')}s, memory {limits.get('memory_mb')} MiB, "
            f"cpus {limits.get('cpus')}, network {limits.get('network')}",
        ),
    ]
    for label, value in rows:
        out(f"{label:<10} {'-' if value is None else value}")
    return EXIT_OK


def cmd_logs(client: DccfClient, args: argparse.Namespace) -> int:
    text = client.logs(args.id, stream=args.stream)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_results(client: DccfClient, args: argparse.Namespace) -> int:
    if args.list:
        files = client.outputs(args.id)
        if args.json:
            print_json(files)
            return EXIT_OK
        for item in files:
            out(f"{item['path']}  {human_size(item['size'])}  sha256:{item['sha256']}")
        return EXIT_OK
    dest = Path(args.output or f"job-{args.id}")
    written = client.download_archive(args.id, dest)
    if args.json:
        print_json([{"path": path, "size": size} for path, size in written])
        return EXIT_OK
    if not written:
        err(f"job {args.id} wrote no files under /output")
        return EXIT_OK
    err(f"{len(written)} file(s) from job {args.id} in {dest}/")
    for path, size in written:
        out(f"{dest / path}  {human_size(size)}")
    return EXIT_OK


def cmd_list(client: DccfClient, args: argparse.Namespace) -> int:
    more = False
    if args.all:
        jobs = list(
            client.iter_jobs(
                status=args.status,
                page_size=args.limit or 200,
                priority=args.priority,
                order=args.order,
            )
        )
    else:
        page = client.jobs(
            status=args.status, limit=args.limit, priority=args.priority, order=args.order
        )
        jobs, more = page["jobs"], bool(page.get("next"))
    if args.json:
        print_json(jobs)
        return EXIT_OK
    print_table(
        ("ID", "STATUS", "PRIORITY", "REASON", "NAME", "CREATED"),
        [
            (
                str(job["id"]),
                job["status"],
                str(job.get("priority", 0)),
                job.get("reason") or "-",
                (job.get("name") or "-")[:40],
                job.get("created_at") or "-",
            )
            for job in jobs
        ],
    )
    if more:
        err("more jobs are older: dccf list --all, or a larger --limit")
    return EXIT_OK


def cmd_cancel(client: DccfClient, args: argparse.Namespace) -> int:
    job = client.cancel(args.id)
    if args.json:
        print_json(job)
    elif job["status"] == JobStatus.CANCELLED:
        out(f"job {args.id} cancelled")
    else:
        out(f"job {args.id} is {job['status']}: cancel requested, it stops within seconds")
    return EXIT_OK


def cmd_delete(client: DccfClient, args: argparse.Namespace) -> int:
    client.delete(args.id)
    if args.json:
        print_json({"deleted": args.id})
    else:
        out(f"job {args.id} deleted")
    return EXIT_OK


def register(command: options.AddCommand) -> None:
    sub = command("status", cmd_status, "show a job")
    sub.add_argument("id", type=options.job_id, metavar="ID")
    options.wait_options(sub)

    sub = command("logs", cmd_logs, "print a job's logs (all three streams unless --stream)")
    sub.add_argument("id", type=options.job_id, metavar="ID")
    sub.add_argument("--stream", choices=[str(s) for s in LogStream])

    sub = command("results", cmd_results, "download and unpack the files a job wrote to /output")
    sub.add_argument("id", type=options.job_id, metavar="ID")
    sub.add_argument("-o", "--output", metavar="DIR", help="where to unpack (default: job-ID)")
    sub.add_argument("--list", action="store_true", help="only list the files, download nothing")

    sub = command("list", cmd_list, "list jobs, newest first")
    sub.add_argument("--status", choices=[str(s) for s in JobStatus])
    sub.add_argument("--priority", type=options.priority, metavar="N", help="only this priority")
    sub.add_argument(
        "--order",
        choices=["newest", "priority"],
        help="newest first (default), or highest priority first",
    )
    sub.add_argument("--limit", type=int, metavar="N", help="jobs per page (1..200, default 50)")
    sub.add_argument("--all", action="store_true", help="follow every page")

    sub = command("cancel", cmd_cancel, "cancel a queued or running job")
    sub.add_argument("id", type=options.job_id, metavar="ID")

    sub = command("delete", cmd_delete, "delete a finished job with its logs and files")
    sub.add_argument("id", type=options.job_id, metavar="ID")
