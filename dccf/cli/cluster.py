"""Commands about the cluster rather than one job: workers, ui."""

from __future__ import annotations

import argparse

from dccf.cli import options
from dccf.cli.console import EXIT_OK, err, out, print_json, print_table
from dccf.client import DccfClient


def cmd_workers(client: DccfClient, args: argparse.Namespace) -> int:
    found = client.workers()
    if args.json:
        print_json(found)
        return EXIT_OK
    if not found:
        err("no worker has sent a heartbeat yet: start one (dccf-worker) and look again")
        return EXIT_OK
    print_table(
        ("ID", "STATE", "HOST", "VERSION", "SLOTS", "LAST SEEN", "YOUR JOBS"),
        [
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
        ],
    )
    return EXIT_OK


def cmd_ui(client: DccfClient, args: argparse.Namespace) -> int:
    out(client.dashboard_url)
    if not args.json:
        err("open it in a browser; with API tokens configured, the page asks for yours")
    return EXIT_OK


def register(command: options.AddCommand) -> None:
    command("workers", cmd_workers, "list the workers: alive, lost or stopped, and your jobs")
    command("ui", cmd_ui, "print the URL of the web dashboard")
