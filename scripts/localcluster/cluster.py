"""Bring the local cluster up in dependency order, show it, take it down.

Like the local stack, every step checks before it acts (a running component is left as it
is), and what the cluster started is known by its pidfiles in .dccf/cluster/run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from localstack import procs
from localstack.report import StackError, say

from localcluster import addons, config, control_plane, images, network, node, pki, provisioner
from localcluster import tools as cluster_tools
from localcluster.config import Node
from localcluster.kube import Kubectl
from localcluster.layout import ClusterLayout
from localcluster.phases import Phases

REQUIRED_COMMANDS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "openssl": "openssl",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "docker": "docker.io",
}
CNI_PLUGINS = Path(node.CNI_BIN_DIR)
START_TIMEOUT = 120
NODE_READY_TIMEOUT = 180


def check_host() -> None:
    if os.geteuid() != 0:
        raise StackError("cluster", "a kubelet and containerd need root: run scripts/dev as root")
    missing = sorted({pkg for cmd, pkg in REQUIRED_COMMANDS.items() if not shutil.which(cmd)})
    if not (CNI_PLUGINS / "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        raise StackError("cluster", f"missing: apt-get install -y {' '.join(sorted(missing))}")


def kubectl(layout: ClusterLayout, binaries: dict[str, Path]) -> Kubectl:
    return Kubectl(binaries["kubectl"], layout.admin_kubeconfig)


def _url_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


def _start(layout: ClusterLayout, spec: procs.Spec, ready: Callable[[], bool]) -> int:
    started = time.monotonic()
    pid = procs.read_pid(spec.pidfile)
    verb = "running"
    if pid is None:
        pid = procs.start(spec)
        verb = "started"
    error = procs.wait_until(ready, pid, START_TIMEOUT, interval=0.5)
    if error:
        raise StackError(spec.name, error, spec.log)
    say(spec.name, f"{verb} (pid {pid})", started)
    return pid


def _provisioner_spec(layout: ClusterLayout) -> procs.Spec:
    return procs.Spec(
        name="provisioner",
        argv=[sys.executable, "-m", "localcluster.provisioner"],
        log=layout.log("provisioner"),
        pidfile=layout.pidfile("provisioner"),
        env={"PYTHONPATH": str(layout.repo / "scripts")},
    )


def up(layout: ClusterLayout, phases: Phases | None = None) -> dict[str, Path]:
    """Start whatever of the cluster is not running; returns the tools' binaries."""
    phases = phases or Phases()
    started = time.monotonic()
    check_host()
    with phases.time("tools"):
        binaries = cluster_tools.ensure(layout)
    with phases.time("cluster start"):
        containerd_pids = _start_runtimes(layout, binaries)
    with phases.time("images"):
        images.build(layout)
        images.load(layout, images.standin_tags())
    with phases.time("cluster start"):
        for target in config.NODES:
            spec = node.kubelet_spec(layout, target, binaries["kubelet"], containerd_pids[target])
            healthz = f"http://127.0.0.1:{target.kubelet_healthz_port}/healthz"
            _start(layout, spec, _url_ok(healthz))
        wait_for_nodes(layout, kubectl(layout, binaries))
        # After the nodes: kube-proxy reads its node's object when it starts.
        proxy = addons.kube_proxy(layout, binaries)
        _start(layout, proxy, _url_ok(addons.kube_proxy_healthz_url()))
    say("cluster", f"up: {len(config.NODES)} nodes, kubeconfig {layout.admin_kubeconfig}", started)
    return binaries


def _start_runtimes(layout: ClusterLayout, binaries: dict[str, Path]) -> dict[Node, int]:
    """The control plane, DNS, storage and each node's containerd."""
    pki.ensure(layout)
    network.ensure()
    kube = kubectl(layout, binaries)
    _start(layout, control_plane.etcd(layout, binaries), _url_ok(control_plane.etcd_health_url()))
    _start(layout, control_plane.apiserver(layout, binaries), kube.ready)
    for make in (control_plane.controller_manager, control_plane.scheduler):
        _start(layout, make(layout, binaries), lambda: True)
    _start(layout, addons.coredns(layout, binaries), _url_ok(addons.coredns_ready_url()))
    kube.apply(provisioner.storage_class_manifest())
    _start(layout, _provisioner_spec(layout), lambda: True)
    pids = {}
    for target in config.NODES:
        node.prepare(layout, target)
        socket = layout.containerd_socket(target)
        pids[target] = _start(layout, node.containerd_spec(layout, target), socket.exists)
    return pids


def node_ready(kube: Kubectl, name: str) -> bool:
    done = kube.attempt(
        "get", "node", name, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
    )
    return done.returncode == 0 and done.stdout.strip() == "True"


def wait_for_nodes(layout: ClusterLayout, kube: Kubectl) -> None:
    started = time.monotonic()
    deadline = started + NODE_READY_TIMEOUT
    for target in config.NODES:
        while not node_ready(kube, target.name):
            if time.monotonic() > deadline:
                raise StackError(
                    target.name,
                    f"not Ready after {NODE_READY_TIMEOUT} s",
                    layout.log(f"{target.name}-kubelet"),
                )
            time.sleep(1)
    say("nodes", f"{', '.join(n.name for n in config.NODES)} Ready", started)


def _stop(layout: ClusterLayout, names: list[str], grace: float = 20) -> None:
    stops = [procs.Stop(name, layout.pidfile(name), signal.SIGTERM, grace) for name in names]
    for name, took in procs.stop(stops).items():
        say(name, f"stopped ({took:.1f} s)")


def down(layout: ClusterLayout, purge: bool = False) -> None:
    """Stop everything the cluster started, pods first; `purge` also deletes its state."""
    _stop(layout, [f"{n.name}-kubelet" for n in config.NODES])
    for target in config.NODES:
        node.kill_leftovers(layout, target)
    _stop(layout, [f"{n.name}-containerd" for n in config.NODES])
    for target in config.NODES:
        node.kill_leftovers(layout, target)
        node.remove_cgroups(target)
    _stop(layout, ["provisioner", "kube-proxy", "coredns"])
    _stop(layout, ["kube-scheduler", "kube-controller-manager"])
    _stop(layout, ["kube-apiserver"])
    _stop(layout, ["etcd"])
    _clean_kube_proxy_rules(layout)
    network.remove()
    if purge and layout.root.exists():
        shutil.rmtree(layout.root)
        say("cluster", f"deleted {layout.relative(layout.root)}")


def _clean_kube_proxy_rules(layout: ClusterLayout) -> None:
    """kube-proxy leaves its iptables chains behind when it stops; it can remove them."""
    built = [p for p in layout.tools_cache.glob("kubernetes-*/bin/kube-proxy") if p.exists()]
    if built:
        subprocess.run([str(built[0]), "--cleanup"], capture_output=True, stdin=subprocess.DEVNULL)


COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "coredns",
    "kube-proxy",
    "provisioner",
    *(f"{n.name}-{part}" for n in config.NODES for part in ("containerd", "kubelet")),
)


def status(layout: ClusterLayout) -> bool:
    """One line per component; True when all run."""
    healthy = True
    rows = [("COMPONENT", "STATE", "PID")]
    for name in COMPONENTS:
        pid = procs.read_pid(layout.pidfile(name))
        healthy = healthy and pid is not None
        rows.append((name, "running" if pid else "stopped", str(pid or "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return healthy
