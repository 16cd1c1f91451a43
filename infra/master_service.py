"""The master: the REST API Deployment and the Service that exposes it.

With the default LoadBalancer on port 80, `minikube tunnel` serves it on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import app_labels, node_selector, resource_block, service_host

MASTER_PORT = 8080
NAME = "dccf-master"
SERVICES_UID = 10001


@dataclass(frozen=True)
class MasterArgs:
    namespace: pulumi.Output[str]
    image: pulumi.Output[str]
    pull_policy: str
    replicas: int
    env_from: list[dict[str, Any]]
    secret_env: list[dict[str, Any]]
    service_type: str
    service_port: int
    node_selector: Mapping[str, str]
    resources: Mapping[str, Mapping[str, str]]


class MasterService(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: MasterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:MasterService", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = app_labels("master")
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **node_selector(args.node_selector),
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": SERVICES_UID,
                            "runAsGroup": SERVICES_UID,
                        },
                        "containers": [
                            {
                                "name": "master",
                                "image": args.image,
                                "imagePullPolicy": args.pull_policy,
                                "command": ["dccf-master"],
                                "ports": [{"name": "http", "containerPort": MASTER_PORT}],
                                "envFrom": args.env_from,
                                "env": [
                                    {"name": "DCCF_HOST", "value": "0.0.0.0"},
                                    {"name": "DCCF_PORT", "value": str(MASTER_PORT)},
                                    *args.secret_env,
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/readyz", "port": "http"},
                                    "periodSeconds": 5,
                                    "failureThreshold": 3,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http"},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 10,
                                    "failureThreshold": 3,
                                },
                                "resources": resource_block(args.resources),
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                # Multipart uploads spool to /tmp.
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            name,
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={
                "type": args.service_type,
                "selector": labels,
                "ports": [{"name": "http", "port": args.service_port, "targetPort": "http"}],
            },
            opts=child,
        )
        in_cluster = service_host(NAME, args.namespace)
        self.url = pulumi.Output.all(service.status, in_cluster).apply(
            lambda parts: _url(parts[0], parts[1], args.service_port)
        )
        self.register_outputs({"url": self.url})


def _field(value: Any, snake: str, camel: str) -> Any:
    """A field of a status that the engine hands over as an object or as a plain dict."""
    if isinstance(value, dict):
        return value.get(snake, value.get(camel))
    return getattr(value, snake, None)


def _url(status: Any, in_cluster_host: str, port: int) -> str:
    """The load balancer's address when there is one, else the in-cluster name."""
    balancer = _field(status, "load_balancer", "loadBalancer")
    ingress = _field(balancer, "ingress", "ingress") or []
    addresses = [_field(i, "ip", "ip") or _field(i, "hostname", "hostname") for i in ingress]
    host = next((a for a in addresses if a), in_cluster_host)
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"
