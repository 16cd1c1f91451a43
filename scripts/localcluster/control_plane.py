"""etcd, the API server, the controller manager and the scheduler, all on 127.0.0.1.

With no node inside the API server's reach (it listens on loopback), it keeps no endpoints for
the `kubernetes` Service (`--endpoint-reconciler-type=none`); nothing in the DCCF stack talks
to the API from a pod.
"""

from __future__ import annotations

from pathlib import Path

from localstack.procs import Spec

from localcluster import config
from localcluster.layout import ClusterLayout


def _spec(layout: ClusterLayout, name: str, argv: list[str]) -> Spec:
    return Spec(name=name, argv=argv, log=layout.log(name), pidfile=layout.pidfile(name))


def etcd(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    layout.etcd_data.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.chmod(0o700)
    client = f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{config.ETCD_PEER_PORT}"
    return _spec(
        layout,
        "etcd",
        [
            str(tools["etcd"]),
            "--name=dccf-local",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=dccf-local={peer}",
            "--listen-metrics-urls=",
            "--log-level=warn",
        ],
    )


def etcd_health_url() -> str:
    return f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}/health"


def apiserver(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    pki = layout.pki
    return _spec(
        layout,
        "kube-apiserver",
        [
            str(tools["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{config.ETCD_CLIENT_PORT}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={config.APISERVER_PORT}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'admin.crt'}",
            f"--kubelet-client-key={pki / 'admin.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer=https://kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
        ],
    )


def controller_manager(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    pki = layout.pki
    return _spec(
        layout,
        "kube-controller-manager",
        [
            str(tools["kube-controller-manager"]),
            f"--kubeconfig={layout.admin_kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={config.CONTROLLER_MANAGER_PORT}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            "--profiling=false",
            "--v=0",
        ],
    )


def scheduler(layout: ClusterLayout, tools: dict[str, Path]) -> Spec:
    return _spec(
        layout,
        "kube-scheduler",
        [
            str(tools["kube-scheduler"]),
            f"--kubeconfig={layout.admin_kubeconfig}",
            f"--authentication-kubeconfig={layout.admin_kubeconfig}",
            f"--authorization-kubeconfig={layout.admin_kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={config.SCHEDULER_PORT}",
            "--profiling=false",
            "--v=0",
        ],
    )
