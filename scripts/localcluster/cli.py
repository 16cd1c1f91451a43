"""`scripts/dev cluster` subcommands. The bash wrapper installs what is missing, then runs this."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from localstack.report import StackError, fail, tail

from localcluster import cluster, config, deploy, images, service, tier
from localcluster import tools as cluster_tools
from localcluster.layout import ClusterLayout

DESCRIPTION = f"""\
A real Kubernetes {config.K8S_VERSION} on this machine: etcd, the API server, controller
manager and scheduler, {len(config.NODES)} nodes (each a kubelet with Debian's containerd and
runc), CoreDNS, kube-proxy and a host-folder volume provisioner; and the DCCF stack deployed
on it by the real Pulumi engine ({config.PULUMI_VERSION}) and pulumi-kubernetes provider
({config.PROVIDER_VERSION}).

Tools are built from the Go module proxy once (wrapper modules with pinned versions and
checksums in scripts/localcluster/gomodules/) and cached in ${{XDG_CACHE_HOME:-~/.cache}}/dccf/.
State lives in .dccf/cluster/. Addresses: the API server on 127.0.0.1:{config.APISERVER_PORT},
nodes and pods on the bridges dccfbr1/dccfbr2 ({config.POD_CIDR}), services in
{config.SERVICE_CIDR}; nothing is routed off the machine."""

EPILOG = """\
examples:
  scripts/dev cluster up               # tools, control plane, nodes, stand-in images
  scripts/dev cluster deploy           # pulumi up of infra/ (Automation API)
  eval "$(scripts/dev cluster env)"    # KUBECONFIG, DCCF_URL, DCCF_TOKEN for this shell
  .dccf/venv/bin/pytest tests/e2e
  scripts/dev cluster kubectl -n dccf get pods -o wide
  scripts/dev cluster destroy          # pulumi destroy
  scripts/dev cluster down --purge
  scripts/dev cluster test             # all of the above, with the cluster tests and timings"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/dev cluster",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="build what is missing and start the cluster (idempotent)")
    down = commands.add_parser("down", help="stop the cluster and its pods; state stays")
    down.add_argument("--purge", action="store_true", help="also delete .dccf/cluster/")
    commands.add_parser("status", help="each component and its PID; exit 3 if not all run")
    logs = commands.add_parser("logs", help="component logs (all when none is named)")
    logs.add_argument("component", nargs="?", help="e.g. kube-apiserver, dccf-node-2-kubelet")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=40, help="lines to show (40)")
    deploy_cmd = commands.add_parser("deploy", help="`pulumi up` of infra/ on the cluster")
    deploy_cmd.add_argument(
        "--source", type=Path, help="a checkout to deploy instead of this one (its infra/ runs)"
    )
    commands.add_parser("destroy", help="`pulumi destroy` of the deployed stack")
    commands.add_parser("env", help="print `export` lines: KUBECONFIG, DCCF_URL, DCCF_TOKEN")
    commands.add_parser("kubectl", help="kubectl as the cluster's admin (arguments follow)")
    load = commands.add_parser("load-image", help="import an image of the Docker engine")
    load.add_argument("ref")
    commands.add_parser(
        "test",
        help="up, deploy twice, tests/e2e and tests/cluster against it, destroy, down",
        description="Extra arguments go to both pytest runs.",
    )
    return parser


def _logs(layout: ClusterLayout, component: str | None, follow: bool, lines: int) -> int:
    files = [layout.log(component)] if component else sorted(layout.logs.glob("*.log"))
    files = [f for f in files if f.exists()]
    if not files:
        print("no such log: `scripts/dev cluster logs` lists them all", file=sys.stderr)
        return 1
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *map(str, files)])
    for path in files:
        print(f"==> {layout.relative(path)} <==")
        print("\n".join(tail(path, lines)))
    return 0


def _binaries(layout: ClusterLayout) -> dict[str, Path]:
    return cluster_tools.ensure(layout)


def _env(layout: ClusterLayout) -> int:
    binaries = _binaries(layout)
    kube = cluster.kubectl(layout, binaries)
    values = {
        "KUBECONFIG": str(layout.admin_kubeconfig),
        "DCCF_URL": service.master_url(kube),
        "DCCF_TOKEN": deploy.token(layout),
    }
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    if extra and args.command not in ("kubectl", "test"):
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    layout = ClusterLayout.discover()
    try:
        if args.command == "up":
            cluster.up(layout)
        elif args.command == "down":
            cluster.down(layout, purge=args.purge)
        elif args.command == "status":
            return 0 if cluster.status(layout) else 3
        elif args.command == "logs":
            return _logs(layout, args.component, args.follow, args.lines)
        elif args.command == "deploy":
            changes = deploy.up(layout, _binaries(layout), (args.source or layout.repo).resolve())
            print(f"[dev] pulumi up: {changes}")
        elif args.command == "destroy":
            print(f"[dev] pulumi destroy: {deploy.destroy(layout, _binaries(layout))}")
        elif args.command == "env":
            return _env(layout)
        elif args.command == "kubectl":
            kube = cluster.kubectl(layout, _binaries(layout))
            return subprocess.run(
                [str(kube.binary), f"--kubeconfig={kube.kubeconfig}", *extra]
            ).returncode
        elif args.command == "load-image":
            images.load(layout, [args.ref])
        elif args.command == "test":
            return tier.run(layout, extra)
    except StackError as error:
        fail(error, layout.relative(error.log) if error.log else None)
        return 1
    except KeyboardInterrupt:
        print("[dev] interrupted; `scripts/dev cluster status` shows what runs", file=sys.stderr)
        return 130
    return 0
