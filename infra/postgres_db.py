"""Postgres, the single source of truth: one StatefulSet pod on its own volume.

The master creates and migrates the schema at start, so nothing here touches tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import (
    app_labels,
    await_timeout,
    resource_block,
    service_host,
    storage_hint,
    volume_claim,
)

POSTGRES_PORT = 5432
POSTGRES_UID = 999
SERVICE = "postgres"
DATA_MOUNT = "/var/lib/postgresql/data"


@dataclass(frozen=True)
class PostgresArgs:
    namespace: pulumi.Output[str]
    image: str
    password: pulumi.Output[str]
    storage_size: str
    storage_class: str
    resources: Mapping[str, Mapping[str, str]]
    ready_timeout_seconds: int
    user: str = "dccf"
    database: str = "dccf"


class PostgresDatabase(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: int
    user: str
    database: str

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:PostgresDatabase", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = app_labels("postgres")
        # Auto-named: a new password makes a new Secret name, which rolls the pod.
        secret = k8s.core.v1.Secret(
            f"{name}-password",
            metadata={"namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data={"password": args.password},
            opts=child,
        )
        service = k8s.core.v1.Service(
            name,
            metadata={"name": SERVICE, "namespace": args.namespace, "labels": labels},
            spec={
                "selector": labels,
                "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}],
            },
            opts=child,
        )
        ready = ["pg_isready", "-h", "127.0.0.1", "-U", args.user, "-d", args.database]
        statefulset = k8s.apps.v1.StatefulSet(
            name,
            metadata={
                "name": SERVICE,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": await_timeout(args.ready_timeout_seconds),
            },
            spec={
                "serviceName": service.metadata.apply(lambda m: m.name),
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": POSTGRES_UID,
                            "runAsGroup": POSTGRES_UID,
                            "fsGroup": POSTGRES_UID,
                        },
                        "containers": [
                            {
                                "name": "postgres",
                                "image": args.image,
                                "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                                "env": [
                                    {"name": "POSTGRES_USER", "value": args.user},
                                    {"name": "POSTGRES_DB", "value": args.database},
                                    {
                                        "name": "POSTGRES_PASSWORD",
                                        "valueFrom": {
                                            "secretKeyRef": {
                                                "name": secret.metadata.apply(lambda m: m.name),
                                                "key": "password",
                                            }
                                        },
                                    },
                                    # A subdirectory: a fresh cloud volume has lost+found at
                                    # its root, which initdb refuses.
                                    {"name": "PGDATA", "value": f"{DATA_MOUNT}/pgdata"},
                                ],
                                "readinessProbe": {
                                    "exec": {"command": ready},
                                    "initialDelaySeconds": 5,
                                    "periodSeconds": 5,
                                },
                                "livenessProbe": {
                                    "exec": {"command": ready},
                                    "initialDelaySeconds": 30,
                                    "periodSeconds": 10,
                                    "failureThreshold": 6,
                                },
                                "resources": resource_block(args.resources),
                                "securityContext": {"allowPrivilegeEscalation": False},
                                "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
                            }
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    volume_claim("data", args.storage_size, args.storage_class)
                ],
            },
            opts=child,
        )
        if not args.storage_class:
            pulumi.log.info(storage_hint("Postgres", args.ready_timeout_seconds), statefulset)
        self.host = service_host(SERVICE, args.namespace)
        self.port = POSTGRES_PORT
        self.user = args.user
        self.database = args.database
        self.register_outputs({"host": self.host})
