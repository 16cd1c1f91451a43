"""The cluster's own bridges and the rules that keep its traffic on this machine.

Each node gets a bridge whose address is the node's IP and its pods' gateway. The service
range is routed onto the first bridge, so an address kube-proxy does not serve goes nowhere
rather than out of the default route. Forwarding is allowed between pod addresses only:
a pod can reach pods, services and this host, never another machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from localstack.report import StackError

from localcluster import config

KUBE_FIREWALL = "KUBE-FIREWALL"
SYSCTLS = {
    # kube-proxy's rules see pod-to-service traffic on a bridge only through this.
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/ipv4/ip_forward": "1",
}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise StackError("network", f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)


def _forward_rules() -> list[list[str]]:
    return [
        ["-s", config.POD_CIDR, "-d", config.POD_CIDR, "-j", "ACCEPT"],
        ["-s", config.POD_CIDR, "-j", "DROP"],
        ["-d", config.POD_CIDR, "-j", "DROP"],
    ]


def ensure() -> None:
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key
        if not path.exists():
            raise StackError("network", f"{path} is missing: the kernel lacks bridge netfilter")
        if path.read_text().strip() != value:
            path.write_text(value)
    for node in config.NODES:
        if _ip("link", "show", node.bridge, check=False).returncode != 0:
            _ip("link", "add", node.bridge, "type", "bridge")
        prefix = node.subnet.split("/")[1]
        if f"inet {node.ip}/" not in _ip("-4", "addr", "show", "dev", node.bridge).stdout:
            _ip("addr", "add", f"{node.ip}/{prefix}", "dev", node.bridge)
        _ip("link", "set", node.bridge, "up")
    _ip("route", "replace", config.SERVICE_CIDR, "dev", config.NODES[0].bridge)
    if _iptables("-L", config.IPTABLES_CHAIN, "-n").returncode != 0:
        _iptables("-N", config.IPTABLES_CHAIN)
    _iptables("-F", config.IPTABLES_CHAIN)
    for rule in _forward_rules():
        _iptables("-A", config.IPTABLES_CHAIN, *rule)
    if _iptables("-C", "FORWARD", "-j", config.IPTABLES_CHAIN).returncode != 0:
        done = _iptables("-I", "FORWARD", "1", "-j", config.IPTABLES_CHAIN)
        if done.returncode != 0:
            raise StackError("network", f"iptables -I FORWARD failed: {done.stderr.strip()}")


def remove() -> None:
    """Take the bridges, the route and the forwarding rules away again."""
    _ip("route", "del", config.SERVICE_CIDR, check=False)
    for node in config.NODES:
        _ip("link", "delete", node.bridge, check=False)
    while _iptables("-D", "FORWARD", "-j", config.IPTABLES_CHAIN).returncode == 0:
        pass
    _iptables("-F", config.IPTABLES_CHAIN)
    _iptables("-X", config.IPTABLES_CHAIN)
    # kube-proxy's `--cleanup` leaves the filter chain that drops martian localhost traffic.
    for hook in ("INPUT", "OUTPUT"):
        while _iptables("-D", hook, "-j", KUBE_FIREWALL).returncode == 0:
            pass
    _iptables("-F", KUBE_FIREWALL)
    _iptables("-X", KUBE_FIREWALL)
