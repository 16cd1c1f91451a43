"""Argument types and the options several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dccf.client import DccfClient
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY

Handler = Callable[[DccfClient, argparse.Namespace], int]
# Adds a subcommand (name, handler, help) and returns its parser for the arguments.
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]


def job_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a positive whole number)")
    return int(text)


def priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a priority (a whole number from {MIN_PRIORITY} to {MAX_PRIORITY})"
        )
    return value


def build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def global_options(for_subcommand: bool) -> argparse.ArgumentParser:
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


def wait_options(parser: argparse.ArgumentParser) -> None:
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
