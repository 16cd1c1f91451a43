"""Where the local cluster keeps its state (in the clone) and its built tools (in the cache)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localstack.layout import Layout

from localcluster.config import Node


@dataclass(frozen=True)
class ClusterLayout:
    stack: Layout

    @classmethod
    def discover(cls) -> ClusterLayout:
        return cls(Layout.discover())

    @property
    def repo(self) -> Path:
        return self.stack.repo

    @property
    def root(self) -> Path:
        return self.stack.state / "cluster"

    @property
    def tools_cache(self) -> Path:
        return self.stack.cache / "cluster-tools"

    @property
    def pulumi_home(self) -> Path:
        """Plugins are installed per built provider, so the home lives in the cache too."""
        return self.stack.cache / "pulumi-home"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    @property
    def pulumi_state(self) -> Path:
        return self.root / "pulumi-state"

    @property
    def secrets_file(self) -> Path:
        return self.root / "stack-secrets.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def images(self) -> Path:
        return self.root / "images"

    def node_dir(self, node: Node) -> Path:
        return self.root / "nodes" / node.name

    def containerd_socket(self, node: Node) -> Path:
        return self.node_dir(node) / "containerd.sock"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def relative(self, path: Path) -> str:
        return self.stack.relative(path)
