"""`scripts/dev` subcommands. The bash wrapper installs what is missing, then runs this."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from localstack import checks, kafka_cluster, pytest_run, stack
from localstack import config as stack_config
from localstack.layout import Layout
from localstack.report import StackError, fail, say, tail

TEST_TIERS = (
    "tests/unit",
    "tests/infra",
    "tests/integration",
    "tests/e2e",
    "tests/browser",
    "tests/faults",
)
# `test` runs the tiers against a stack of its own (in .dccf/test, on ports of its own), so
# that a stack brought up by `up` keeps running untouched whatever its shape, and the tests
# always get the shape they need: three Kafka brokers, so that one of them can be stopped, and
# short leases and sweeps, so that the fault tests (which wait for a dead worker's lease to run
# out and a lost notice to be sent again) take seconds rather than minutes. A DCCF_* variable
# or size option given by the caller wins.
TEST_SETTINGS = {
    "DCCF_LEASE_SECONDS": "6",
    "DCCF_SWEEP_SECONDS": "1",
    "DCCF_REPUBLISH_AFTER_SECONDS": "5",
}
TEST_KAFKA_NODES = 3
# pytest's closing line, with or without the `=` banner (-q drops it).

DESCRIPTION = """\
The local DCCF stack: Postgres, a KRaft Kafka, a Docker engine seeded with
debian:bookworm-slim, the master and N workers, all on 127.0.0.1.

State lives in .dccf/ (git-ignored): pg/, kafka/, docker/, logs/, run/, stack.json.
Downloads (Kafka jars, the base image tar) are cached in ${XDG_CACHE_HOME:-~/.cache}/dccf/.
Ports: Postgres 55432, Kafka 19092/19094/19096 (controllers +1), master 8080.
DCCF_* variables set when calling `up` reach the services (e.g. DCCF_API_TOKENS).

`test` runs its own stack in .dccf/test/ on the same ports +100 (master 8180), so a stack
from `up` keeps running. Several clones on one machine: DCCF_DEV_INSTANCE=N (1-9) moves
this clone's ports up by N*1000; all stacks share the Docker engine."""

EPILOG = """\
examples:
  scripts/dev up                     # 2 workers, 1 Kafka node; prints the master URL
  scripts/dev up --workers 3 --kafka-nodes 3
  eval "$(scripts/dev env)"          # DCCF_URL, DCCF_PG_*, DCCF_KAFKA_* for this shell
  scripts/dev logs master -f
  scripts/dev stop kafka-2; scripts/dev start kafka-2
  scripts/dev test -x                # ruff, mypy, up, all test tiers, down (-x to pytest)
  DCCF_DEV_SKIP_CHECKS=1 scripts/dev test tests/unit/test_cli.py   # no ruff or mypy first
  scripts/dev down --purge           # stop, then delete .dccf/ state (keeps .dccf/venv)
  DCCF_DEV_STATE=.dccf/test scripts/dev status   # the test stack, while `test` runs
  scripts/dev cluster up             # a local Kubernetes; `scripts/dev cluster --help`"""


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _component(text: str) -> str:
    if not stack.COMPONENT.fullmatch(text):
        raise argparse.ArgumentTypeError("expected postgres, dockerd, master, kafka-N or worker-N")
    return text


def _add_size_options(parser: argparse.ArgumentParser, new_stack_nodes: int = 1) -> None:
    parser.add_argument(
        "--workers",
        type=_count(0),
        metavar="N",
        help="workers to run (default: as many as run now, else 2)",
    )
    parser.add_argument(
        "--kafka-nodes",
        type=int,
        choices=kafka_cluster.ALLOWED_NODES,
        help=f"Kafka brokers, 1 or 3 (default: as many as run now, else {new_stack_nodes})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/dev",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser(
        "up", help="install what is missing, start the stack (idempotent)", allow_abbrev=False
    )
    _add_size_options(up)
    down = commands.add_parser("down", help="stop what the stack started; data stays")
    down.add_argument(
        "--purge", action="store_true", help="also delete .dccf/ state except the venv"
    )
    commands.add_parser("status", help="each component, its PID and address; exit 3 if not up")
    logs = commands.add_parser("logs", help="show component logs (all when none is named)")
    logs.add_argument("component", nargs="?", help="e.g. master, worker-1, kafka-2, postgres")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=_count(1), default=40, help="lines to show (40)")
    test = commands.add_parser(
        "test",
        help="ruff and mypy, then up, every test tier with the stack's DCCF_* env, then down",
        description="Runs ruff check, ruff format --check and mypy first and stops on a "
        f"finding ({checks.SKIP_VAR}=1 skips them). "
        "Brings up a test stack of its own (in .dccf/test, ports +100; a stack "
        "from `up` keeps running), runs pytest on "
        + " ".join(TEST_TIERS)
        + " (or only the test paths given), takes the test stack down and exits with pytest's "
        f"code. Unknown arguments go to pytest. The test stack has {TEST_KAFKA_NODES} Kafka "
        "nodes and "
        + " ".join(f"{key}={value}" for key, value in TEST_SETTINGS.items())
        + " unless given otherwise.",
        allow_abbrev=False,
    )
    _add_size_options(test, new_stack_nodes=TEST_KAFKA_NODES)
    commands.add_parser("env", help="print `export DCCF_...` lines for the running stack")
    # Handled by scripts/dev itself (scripts/localcluster); listed here for --help.
    commands.add_parser(
        "cluster",
        help="a real Kubernetes on this machine with DCCF deployed by Pulumi: "
        "scripts/dev cluster --help",
        add_help=False,
    )
    start = commands.add_parser("start", help="start one component of the stack")
    start.add_argument("component", type=_component)
    stop = commands.add_parser("stop", help="stop one component (e.g. for fault tests)")
    stop.add_argument("component", type=_component)
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return args, extra


def pytest_argv(repo: Path, extra: list[str]) -> list[str]:
    """Every tier, unless the caller named test paths of their own."""
    tests = (repo / "tests").resolve()
    named = [
        arg
        for arg in extra
        if not arg.startswith("-") and (repo / arg.split("::")[0]).resolve().is_relative_to(tests)
    ]
    return [*([] if named else TEST_TIERS), *extra]


def _saved(layout: Layout) -> stack_config.StackConfig:
    saved = stack_config.load(layout.stack_file)
    if saved is None:
        raise StackError("stack", "no stack here yet: run scripts/dev up")
    return saved


def _requested(layout: Layout, args: argparse.Namespace) -> stack_config.StackConfig:
    """Sizes and DCCF_* variables left out keep those of the running stack, so a bare `up`
    changes nothing and `env` goes on printing what the services got."""
    saved = stack_config.load(layout.stack_file)
    running = saved if saved and stack.live(layout) else None
    workers = args.workers if args.workers is not None else running.workers if running else 2
    nodes = args.kafka_nodes or (running.kafka_nodes if running else 1)
    config = stack_config.StackConfig.from_settings(workers, nodes)
    if running is None:
        return config
    return dataclasses.replace(config, passthrough={**running.passthrough, **config.passthrough})


def _requested_for_tests(args: argparse.Namespace) -> stack_config.StackConfig:
    config = stack_config.StackConfig.from_settings(
        args.workers if args.workers is not None else 2,
        args.kafka_nodes or TEST_KAFKA_NODES,
        test=True,
    )
    return dataclasses.replace(config, passthrough={**TEST_SETTINGS, **config.passthrough})


def _logs(layout: Layout, component: str | None, follow: bool, lines: int) -> int:
    if component:
        files = [layout.log(component)]
        if not files[0].exists():
            known = ", ".join(sorted(p.stem for p in layout.logs.glob("*.log"))) or "none yet"
            print(f"no log for {component} (logs: {known})", file=sys.stderr)
            return 1
    else:
        files = sorted(layout.logs.glob("*.log"))
        if not files:
            print("no logs yet: run scripts/dev up", file=sys.stderr)
            return 1
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *map(str, files)])
    for path in files:
        if len(files) > 1:
            print(f"==> {layout.relative(path)} <==")
        print("\n".join(tail(path, lines)))
    return 0


def _test(args: argparse.Namespace, extra: list[str]) -> int:
    """Up a fresh test stack, run pytest against it, take it down; pytest's exit code."""
    layout = Layout.discover(test=True)
    if checks.skipped():
        say("checks", f"skipped ({checks.SKIP_VAR} is set)")
    elif not checks.run(layout.repo):
        return 1
    config = _requested_for_tests(args)
    # The cluster tier (scripts/localcluster, which needs the venv's Pulumi) follows the local
    # ones; its tools build meanwhile.
    from localcluster import tier as cluster_tier

    prebuild = cluster_tier.prebuild_tools(layout.repo, extra)
    summary = None
    code = 1
    try:
        # Whatever an interrupted run left is stopped and wiped: every run starts alike. The
        # Docker data stays, as a build cache.
        stack.down(layout, quiet=True)
        stack.purge(layout, keep=("docker",))
        stack.Stack(layout, config).up()
        pytest_args = pytest_argv(layout.repo, extra)
        say("test", " ".join(shlex.quote(arg) for arg in ["-m", "pytest", *pytest_args]))
        env = {**os.environ, **config.service_env(), stack_config.STATE_VAR: str(layout.state)}
        # pytest's closing line is repeated after `down`, so the run still ends with it.
        result = pytest_run.run(pytest_args, layout.repo, env)
        summary, code = result.summary, result.code
        say("test", f"pytest exited with {code}")
    except StackError as error:
        _report(layout, error)
    finally:
        stack.down(layout)
    if summary:
        print(summary, flush=True)
    return cluster_tier.after_local_tiers(prebuild, extra) or code


def _report(layout: Layout, error: StackError) -> None:
    fail(error, layout.relative(error.log) if error.log else None)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(sys.argv[1:] if argv is None else argv)
    # The fault tests drive the test stack's parts through `start` and `stop`.
    chosen = None if args.command == "up" else os.environ.get(stack_config.STATE_VAR)
    layout = Layout.discover(state=chosen)
    try:
        if args.command == "up":
            stack.Stack(layout, _requested(layout, args)).up()
        elif args.command == "down":
            stack.down(layout)
            if args.purge:
                # A test run going on in this clone keeps its own state.
                tests = Layout.discover(test=True)
                stack.purge(
                    layout, keep=("venv", tests.state.name) if stack.live(tests) else ("venv",)
                )
        elif args.command == "status":
            return 0 if stack.status(layout, stack_config.load(layout.stack_file)) else 3
        elif args.command == "logs":
            return _logs(layout, args.component, args.follow, args.lines)
        elif args.command == "env":
            env = {**_saved(layout).service_env(), stack_config.STATE_VAR: str(layout.state)}
            for key, value in sorted(env.items()):
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "start":
            stack.Stack(layout, _saved(layout)).start(args.component)
        elif args.command == "stop":
            stack.stop_one(layout, args.component)
        elif args.command == "test":
            return _test(args, extra)
    except StackError as error:
        _report(layout, error)
        return 1
    except KeyboardInterrupt:
        print("[dev] interrupted; `scripts/dev status` shows what runs", file=sys.stderr)
        return 130
    return 0
