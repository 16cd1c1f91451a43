"""Where the deployed master answers: its Service's cluster IP, which kube-proxy routes to
from this host (the Service is ClusterIP: there is no load balancer here)."""

from __future__ import annotations

from localcluster import config
from localcluster.kube import Kubectl

MASTER_SERVICE = "dccf-master"


def master_url(kube: Kubectl) -> str:
    service = kube.get("service", MASTER_SERVICE, "-n", config.NAMESPACE)
    port = service["spec"]["ports"][0]["port"]
    ip = service["spec"]["clusterIP"]
    return f"http://{ip}" if port == 80 else f"http://{ip}:{port}"
