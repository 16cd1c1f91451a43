"""The `dccf` command: submit build contexts, follow jobs, fetch logs and results.

Exit codes: 0 the command worked (with --wait: the job succeeded); 1 the job failed, was
cancelled, or --wait-timeout passed first; 2 a usage, input or API error; 130 interrupted.
Progress goes to stderr as plain lines (CI logs stay readable); results go to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from dccf import settings
from dccf.client import DccfClient, DccfError, Job, WaitTimeout, is_terminal
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobStatus, LogStream, Network, Reason
from dccf.packing import PackingError

EXIT_OK, EXIT_JOB_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
QUIET_LINE_SECONDS = 10
LOG_TAIL_LINES = 30

Handler = Callable[[DccfClient, argparse.Namespace], int]


def _job_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a positive whole number)")
    return int(text)


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a priority (a whole number from {MIN_PRIORITY} to {MAX_PRIORITY})"
        )
    return value


def _build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _out(text: str = "") -> None:
    print(text, file=sys.stdout)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_json(value: Any) -> None:
    _out(json.dumps(value, indent=2))


def _run_seconds(job: Job) -> float | None:
    if not job.get("started_at") or not job.get("finished_at"):
        return None
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    return (finished - started).total_seconds()


class Progress:
    """Prints a line on every status change, and a reminder when nothing changed for a while."""

    def __init__(self, job_id: int, stream: TextIO | None = None) -> None:
        self.job_id = job_id
        self.stream = stream
        self.started = time.monotonic()
        self.last_line = self.started
        self.last_status: str | None = None

    def __call__(self, job: Job) -> None:
        now = time.monotonic()
        status = job["status"]
        if status == self.last_status and now - self.last_line < QUIET_LINE_SECONDS - 0.5:
            return
        if status != self.last_status:
            detail = status
            if status == JobStatus.RUNNING and job.get("worker"):
                detail += f" on {job['worker']} (attempt {job.get('attempt', 1)})"
            elif job.get("reason"):
                detail += f": {job['reason']}"
        else:
            detail = f"still {status}"
        print(
            f"[{human_duration(now - self.started):>6}] job {self.job_id} {detail}",
            file=self.stream or sys.stderr,
            flush=True,
        )
        self.last_status = status
        self.last_line = now


def _summary(job: Job) -> str:
    line = f"job {job['id']} {job['status']}"
    if job.get("reason") and job["reason"] != Reason.CANCELLED:
        line += f": {job['reason']}"
    seconds = _run_seconds(job)
    if seconds is not None:
        line += f" after {human_duration(seconds)}"
    if job.get("exit_code") is not None:
        line += f" (exit code {job['exit_code']})"
    return line


def _tail(text: str, lines: int) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept)


def _print_results(client: DccfClient, job: Job) -> None:
    """After a wait: what the job printed and wrote, or the end of the log that explains why not."""
    job_id = job["id"]
    try:
        if job["status"] == JobStatus.SUCCEEDED:
            _out("--- stdout ---")
            text = client.logs(job_id, stream=LogStream.STDOUT)
            if text:
                _out(text.rstrip("\n"))
            files = client.outputs(job_id)
            _out(f"--- outputs: {len(files)} file(s) under /output ---")
            for item in files:
                _out(f"{item['path']}  {human_size(item['size'])}")
            if files:
                _out(f"download them with: dccf results {job_id} -o DIR")
            return
        if job["reason"] in {Reason.CANCELLED, Reason.WORKER_LOST, Reason.INTERNAL_ERROR}:
            return
        stream = LogStream.BUILD if job["reason"] == Reason.BUILD_FAILED else LogStream.STDERR
        text = client.logs(job_id, stream=stream)
        _out(f"--- {stream} log, last {LOG_TAIL_LINES} lines (all logs: dccf logs {job_id}) ---")
        _out(_tail(text, LOG_TAIL_LINES))
    except DccfError as exc:
        _err(f"dccf: could not fetch job {job_id}'s logs or outputs: {exc.message}")


def _follow(client: DccfClient, job: Job, args: argparse.Namespace) -> int:
    """With --wait: wait for the job, print the outcome, and turn it into the exit code."""
    if not args.wait:
        return EXIT_OK
    job_id = job["id"]
    progress = Progress(job_id)
    progress(job)
    if not is_terminal(job):
        try:
            job = client.wait(job_id, timeout=args.wait_timeout, on_progress=progress)
        except WaitTimeout as exc:
            _err(f"dccf: {exc.message}; it keeps going: dccf status {job_id} --wait")
            if args.json:
                _print_json(exc.job)
            return EXIT_JOB_FAILED
        except KeyboardInterrupt:
            _err(f"dccf: stopped waiting; job {job_id} keeps going: dccf status {job_id} --wait")
            return EXIT_INTERRUPTED
    if args.json:
        _print_json(job)
    else:
        _out(_summary(job))
        _print_results(client, job)
    return EXIT_OK if job["status"] == JobStatus.SUCCEEDED else EXIT_JOB_FAILED


def _announce(client: DccfClient, job: Job, args: argparse.Namespace) -> int:
    """A new job: its id on stdout (for scripts), a sentence on stderr, then follow it."""
    job_id = job["id"]
    if args.wait:
        _err(f"submitted job {job_id} to {client.url}; waiting for it")
    else:
        _err(
            f"submitted job {job_id} ({job['status']}); follow it with: dccf status {job_id} --wait"
        )
        if args.json:
            _print_json(job)
        else:
            _out(str(job_id))
    return _follow(client, job, args)


def cmd_submit(client: DccfClient, args: argparse.Namespace) -> int:
    context = Path(args.dir)
    dockerfile: Path | None = args.dockerfile
    if dockerfile is not None and context.is_dir():
        if not dockerfile.is_file():
            raise PackingError(f"--dockerfile {dockerfile} is not a file")
        if dockerfile.resolve() == (context / "Dockerfile").resolve():
            dockerfile = None
    if context.is_file():
        _err(f"uploading {context} ({human_size(context.stat().st_size)})")
    elif not context.is_dir():
        raise PackingError(f"{context} is neither a directory nor a .tar/.tar.gz file")

    def packed(count: int, size: int) -> None:
        _err(f"packed {context}: {count} file(s), uploading {human_size(size)} (gzip tar)")

    job = client.submit(
        context,
        dockerfile=dockerfile,
        name=args.name,
        priority=args.priority,
        timeout_seconds=args.timeout,
        memory_mb=args.memory,
        cpus=args.cpus,
        network=args.network,
        callback_url=args.callback_url,
        build_args=dict(args.build_arg) if args.build_arg else None,
        idempotency_key=args.idempotency_key,
        on_packed=packed,
    )
    return _announce(client, job, args)


def cmd_demo(client: DccfClient, args: argparse.Namespace) -> int:
    return _announce(client, client.submit_demo(), args)


def cmd_status(client: DccfClient, args: argparse.Namespace) -> int:
    job = client.job(args.id)
    if args.wait:
        return _follow(client, job, args)
    if args.json:
        _print_json(job)
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
        _out(f"{label:<10} {'-' if value is None else value}")
    return EXIT_OK


def cmd_logs(client: DccfClient, args: argparse.Namespace) -> int:
    text = client.logs(args.id, stream=args.stream)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_results(client: DccfClient, args: argparse.Namespace) -> int:
    if args.list:
        files = client.outputs(args.id)
        if args.json:
            _print_json(files)
            return EXIT_OK
        for item in files:
            _out(f"{item['path']}  {human_size(item['size'])}  sha256:{item['sha256']}")
        return EXIT_OK
    dest = Path(args.output or f"job-{args.id}")
    written = client.download_archive(args.id, dest)
    if args.json:
        _print_json([{"path": path, "size": size} for path, size in written])
        return EXIT_OK
    if not written:
        _err(f"job {args.id} wrote no files under /output")
        return EXIT_OK
    _err(f"{len(written)} file(s) from job {args.id} in {dest}/")
    for path, size in written:
        _out(f"{dest / path}  {human_size(size)}")
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
        _print_json(jobs)
        return EXIT_OK
    header = ("ID", "STATUS", "PRIORITY", "REASON", "NAME", "CREATED")
    rows = [
        (
            str(job["id"]),
            job["status"],
            str(job.get("priority", 0)),
            job.get("reason") or "-",
            (job.get("name") or "-")[:40],
            job.get("created_at") or "-",
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if more:
        _err("more jobs are older: dccf list --all, or a larger --limit")
    return EXIT_OK


def cmd_cancel(client: DccfClient, args: argparse.Namespace) -> int:
    job = client.cancel(args.id)
    if args.json:
        _print_json(job)
    elif job["status"] == JobStatus.CANCELLED:
        _out(f"job {args.id} cancelled")
    else:
        _out(f"job {args.id} is {job['status']}: cancel requested, it stops within seconds")
    return EXIT_OK


def cmd_delete(client: DccfClient, args: argparse.Namespace) -> int:
    client.delete(args.id)
    if args.json:
        _print_json({"deleted": args.id})
    else:
        _out(f"job {args.id} deleted")
    return EXIT_OK


def cmd_resubmit(client: DccfClient, args: argparse.Namespace) -> int:
    return _announce(client, client.resubmit(args.id), args)


def cmd_workers(client: DccfClient, args: argparse.Namespace) -> int:
    found = client.workers()
    if args.json:
        _print_json(found)
        return EXIT_OK
    if not found:
        _err("no worker has sent a heartbeat yet: start one (dccf-worker) and look again")
        return EXIT_OK
    header = ("ID", "STATE", "HOST", "VERSION", "SLOTS", "LAST SEEN", "YOUR JOBS")
    rows = [
        (
            w["id"],
            w["state"],
            w["host"],
            w["version"],
            str(w["slots"]),
            w["last_seen_at"],
            ",".join(map(str, w["jobs"])) or "-",
        )
        for w in found
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_ui(client: DccfClient, args: argparse.Namespace) -> int:
    _out(client.dashboard_url)
    if not args.json:
        _err("open it in a browser; with API tokens configured, the page asks for yours")
    return EXIT_OK


def _global_options(for_subcommand: bool) -> argparse.ArgumentParser:
    # Declared on the main parser and on every subcommand, so `dccf --json list` and
    # `dccf list --json` both work; SUPPRESS keeps a subcommand from resetting the main value.
    unset = argparse.SUPPRESS
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--url",
        default=unset if for_subcommand else None,
        help="the DCCF master's URL (default: DCCF_URL, else http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--token",
        default=unset if for_subcommand else None,
        help="API token sent as a Bearer token (default: DCCF_TOKEN)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=unset if for_subcommand else False,
        help="print machine-readable JSON on stdout",
    )
    return parser


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job ends, show progress on stderr, then print its output; "
        "exit 0 only if it succeeded",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        metavar="SECONDS",
        help="stop waiting after this long (exit 1; the job keeps going)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dccf",
        description="Run dockerized jobs on a DCCF cluster.",
        epilog="Exit codes: 0 ok (with --wait: the job succeeded), 1 the job failed or was "
        "cancelled, 2 usage or API error.",
        parents=[_global_options(False)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_global_options(True)]

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=common)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("submit", cmd_submit, "pack a directory as the build context and run it")
    sub.add_argument(
        "dir",
        metavar="DIR",
        help="the build context: a directory with a Dockerfile at its root "
        "(or a .tar/.tar.gz); links and device files are refused",
    )
    sub.add_argument(
        "-f",
        "--dockerfile",
        type=Path,
        metavar="PATH",
        help="use this Dockerfile instead of DIR/Dockerfile",
    )
    sub.add_argument("--name", help="a name for the job (at most 200 characters)")
    sub.add_argument(
        "--priority",
        type=_priority,
        metavar="N",
        help=f"{MIN_PRIORITY}..{MAX_PRIORITY}, default 0: higher runs first",
    )
    sub.add_argument("--timeout", type=int, metavar="SECONDS", help="run time limit")
    sub.add_argument("--memory", type=int, metavar="MB", help="memory limit in MiB")
    sub.add_argument("--cpus", type=float, metavar="N", help="CPU limit, e.g. 0.5")
    sub.add_argument(
        "--network", choices=[str(n) for n in Network], help="the run's network (default none)"
    )
    sub.add_argument("--callback-url", metavar="URL", help="POST status changes to this URL")
    sub.add_argument(
        "--build-arg",
        type=_build_arg,
        action="append",
        metavar="KEY=VALUE",
        help="a Docker build argument; repeatable",
    )
    sub.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="resubmitting with the same key within 24 h returns the first job",
    )
    _wait_options(sub)

    sub = command("status", cmd_status, "show a job")
    sub.add_argument("id", type=_job_id, metavar="ID")
    _wait_options(sub)

    sub = command("logs", cmd_logs, "print a job's logs (all three streams unless --stream)")
    sub.add_argument("id", type=_job_id, metavar="ID")
    sub.add_argument("--stream", choices=[str(s) for s in LogStream])

    sub = command("results", cmd_results, "download and unpack the files a job wrote to /output")
    sub.add_argument("id", type=_job_id, metavar="ID")
    sub.add_argument("-o", "--output", metavar="DIR", help="where to unpack (default: job-ID)")
    sub.add_argument("--list", action="store_true", help="only list the files, download nothing")

    sub = command("list", cmd_list, "list jobs, newest first")
    sub.add_argument("--status", choices=[str(s) for s in JobStatus])
    sub.add_argument("--priority", type=_priority, metavar="N", help="only this priority")
    sub.add_argument(
        "--order",
        choices=["newest", "priority"],
        help="newest first (default), or highest priority first",
    )
    sub.add_argument("--limit", type=int, metavar="N", help="jobs per page (1..200, default 50)")
    sub.add_argument("--all", action="store_true", help="follow every page")

    sub = command("demo", cmd_demo, "run the bundled demo job")
    _wait_options(sub)

    sub = command("cancel", cmd_cancel, "cancel a queued or running job")
    sub.add_argument("id", type=_job_id, metavar="ID")

    sub = command("delete", cmd_delete, "delete a finished job with its logs and files")
    sub.add_argument("id", type=_job_id, metavar="ID")

    sub = command("resubmit", cmd_resubmit, "run a job again with the same files and limits")
    sub.add_argument("id", type=_job_id, metavar="ID")
    _wait_options(sub)

    command("workers", cmd_workers, "list the workers: alive, lost or stopped, and your jobs")
    command("ui", cmd_ui, "print the URL of the web dashboard")
    return parser


def make_client(args: argparse.Namespace) -> DccfClient:
    configured = settings.Client()
    return DccfClient(args.url or configured.url, token=args.token or configured.token or None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        client = make_client(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        handler: Handler = args.handler
        with client:
            return handler(client, args)
    except DccfError as exc:
        where = f" (HTTP {exc.status} {exc.code})" if exc.status else ""
        _err(f"dccf: {exc.message}{where}")
        if exc.status == 401:
            _err("dccf: pass a valid token with --token or DCCF_TOKEN")
        return EXIT_ERROR
    except (PackingError, OSError) as exc:
        _err(f"dccf: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
