"""What pods expect of a cluster beyond the control plane: DNS and Service routing.

CoreDNS runs on the host and answers on every node's bridge address, which each kubelet
hands its pods as their nameserver; names outside the cluster get NXDOMAIN, so no query
leaves the machine. One kube-proxy serves both nodes: they share this host's network.
"""

from __future__ import annotations

from pathlib import Path

from localstack.procs import Spec

from localcluster import config
from localcluster.layout import ClusterLayout


def corefile(layout: ClusterLayout) -> str:
    bind = " ".join(node.ip for node in config.NODES)
    return f"""\
{config.CLUSTER_DOMAIN}:53 in-addr.arpa:53 {{
    bind {bind}
    errors
    ready 127.0.0.1:{config.COREDNS_READY_PORT}
    kubernetes {config.CLUSTER_DOMAIN} in-addr.arpa {{
        kubeconfig {layout.admin_kubeconfig}
        pods insecure
    }}
}}
.:53 {{
    bind {bind}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def coredns(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    path = layout.root / "Corefile"
    write_if_changed(path, corefile(layout))
    return Spec(
        name="coredns",
        argv=[str(tools["coredns"]), "-conf", str(path)],
        log=layout.log("coredns"),
        pidfile=layout.pidfile("coredns"),
    )


def coredns_ready_url() -> str:
    return f"http://127.0.0.1:{config.COREDNS_READY_PORT}/ready"


def kube_proxy_config(layout: ClusterLayout) -> str:
    return f"""\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {layout.admin_kubeconfig}
hostnameOverride: {config.NODES[0].name}
mode: iptables
clusterCIDR: {config.POD_CIDR}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:{config.PROXY_HEALTHZ_PORT}
metricsBindAddress: 127.0.0.1:{config.PROXY_METRICS_PORT}
nodePortAddresses: ["{config.POD_CIDR}"]
iptables:
  localhostNodePorts: false
  syncPeriod: 10s
  minSyncPeriod: 1s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"""


def kube_proxy(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    path = layout.root / "kube-proxy.yaml"
    # kube-proxy exits when its config file is written to, even with the same content.
    write_if_changed(path, kube_proxy_config(layout))
    return Spec(
        name="kube-proxy",
        argv=[str(tools["kube-proxy"]), f"--config={path}", "--v=0"],
        log=layout.log("kube-proxy"),
        pidfile=layout.pidfile("kube-proxy"),
    )


def kube_proxy_healthz_url() -> str:
    return f"http://127.0.0.1:{config.PROXY_HEALTHZ_PORT}/healthz"


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
