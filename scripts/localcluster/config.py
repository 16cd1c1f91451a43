"""The local cluster's shape in one place: tool versions, node names, addresses and ports.

Everything listens on 127.0.0.1 or on the cluster's own bridges; the pod and service ranges
are routed nowhere but to those bridges, and forwarding out of them is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

K8S_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.15.0"
PULUMI_VERSION = "v3.274.1"
# The provider module's one build on the proxy matches this release; the Python SDK is pinned
# to it in pyproject.toml, since a newer SDK asks the engine for a newer plugin.
PROVIDER_VERSION = "4.25.0"

POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.97.0.0/24"
CLUSTER_DOMAIN = "cluster.local"
IPTABLES_CHAIN = "DCCF-CLUSTER"

ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
APISERVER_PORT = 16443
CONTROLLER_MANAGER_PORT = 20257
SCHEDULER_PORT = 20259
PROXY_HEALTHZ_PORT = 20256
PROXY_METRICS_PORT = 20249
COREDNS_READY_PORT = 20181

# The StorageClass the cluster marks default, served by `provisioner.py`.
STORAGE_CLASS = "dccf-host-dir"
PROVISIONER = "dccf.local/host-dir"

# The stack the cluster tier deploys, and the images that stand in for the upstream ones.
PROJECT = "dccf"
STACK = "local"
NAMESPACE = "dccf"
KAFKA_IMAGE = "dccf-local/kafka:4.4.0"
POSTGRES_IMAGE = "dccf-local/postgres:15-bookworm"
DIND_IMAGE = "dccf-local/dind:20.10-bookworm"
PAUSE_IMAGE = "dccf-local/pause:bookworm"


@dataclass(frozen=True)
class Node:
    """One kubelet with its own containerd, bridge and pod subnet."""

    index: int

    @property
    def name(self) -> str:
        return f"dccf-node-{self.index}"

    @property
    def bridge(self) -> str:
        return f"dccfbr{self.index}"

    @property
    def subnet(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def ip(self) -> str:
        """The bridge's address: the node's InternalIP, its kubelet's and its pods' DNS."""
        return f"10.244.{self.index}.1"

    @property
    def kubelet_port(self) -> int:
        return 20250 + 10 * self.index

    @property
    def kubelet_healthz_port(self) -> int:
        return 20251 + 10 * self.index

    @property
    def stream_port(self) -> int:
        return 20252 + 10 * self.index


NODES = (Node(1), Node(2))
# node-1 runs the masters, node-2 the workers; Kafka and Postgres go where there is room.
NODE_LABELS = {NODES[0].name: {"role": "master-node"}, NODES[1].name: {"role": "worker"}}
