"""Commands that start a job: submit, demo, resubmit."""

from __future__ import annotations

import argparse
from pathlib import Path

from dccf.cli import options
from dccf.cli.console import err
from dccf.cli.follow import announce
from dccf.client import DccfClient
from dccf.human import human_size
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, Network
from dccf.packing import PackingError


def cmd_submit(client: DccfClient, args: argparse.Namespace) -> int:
    context = Path(args.dir)
    dockerfile: Path | None = args.dockerfile
    if dockerfile is not None and context.is_dir():
        if not dockerfile.is_file():
            raise PackingError(f"--dockerfile {dockerfile} is not a file")
        if dockerfile.resolve() == (context / "Dockerfile").resolve():
            dockerfile = None
    if context.is_file():
        err(f"uploading {context} ({human_size(context.stat().st_size)})")
    elif not context.is_dir():
        raise PackingError(f"{context} is neither a directory nor a .tar/.tar.gz file")

    def packed(count: int, size: int) -> None:
        err(f"packed {context}: {count} file(s), uploading {human_size(size)} (gzip tar)")

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
    return announce(client, job, args)


def cmd_demo(client: DccfClient, args: argparse.Namespace) -> int:
    return announce(client, client.submit_demo(), args)


def cmd_resubmit(client: DccfClient, args: argparse.Namespace) -> int:
    return announce(client, client.resubmit(args.id), args)


def register(command: options.AddCommand) -> None:
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
        type=options.priority,
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
        type=options.build_arg,
        action="append",
        metavar="KEY=VALUE",
        help="a Docker build argument; repeatable",
    )
    sub.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="resubmitting with the same key within 24 h returns the first job",
    )
    options.wait_options(sub)

    sub = command("demo", cmd_demo, "run the bundled demo job")
    options.wait_options(sub)

    sub = command("resubmit", cmd_resubmit, "run a job again with the same files and limits")
    sub.add_argument("id", type=options.job_id, metavar="ID")
    options.wait_options(sub)
