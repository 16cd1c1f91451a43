"""The `dccf` parser, built from the command groups, and `main`, which runs one command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dccf.cli import cluster, jobs, options, submit
from dccf.cli.console import EXIT_ERROR, EXIT_INTERRUPTED, err
from dccf.client import DccfClient, DccfError
from dccf.packing import PackingError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dccf",
        description="Run dockerized jobs on a DCCF cluster.",
        epilog="Exit codes: 0 ok (with --wait: the job succeeded), 1 the job failed or was "
        "cancelled, 2 usage or API error.",
        parents=[options.global_options(False)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [options.global_options(True)]

    def command(name: str, handler: options.Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=common)
        sub.set_defaults(handler=handler)
        return sub

    for group in (submit, jobs, cluster):
        group.register(command)
    return parser


def make_client(args: argparse.Namespace) -> DccfClient:
    given = {"url": args.url, "token": args.token}
    return DccfClient.from_settings(**{key: value for key, value in given.items() if value})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        client = make_client(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        with client:
            code: int = args.handler(client, args)
            return code
    except DccfError as exc:
        where = f" (HTTP {exc.status} {exc.code})" if exc.status else ""
        err(f"dccf: {exc.message}{where}")
        if exc.status == 401:
            err("dccf: pass a valid token with --token or DCCF_TOKEN")
        return EXIT_ERROR
    except (PackingError, OSError) as exc:
        err(f"dccf: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
