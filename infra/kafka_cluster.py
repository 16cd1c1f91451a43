"""Apache Kafka in KRaft combined mode: every broker is also a controller voter.

Each pod takes its node id from its StatefulSet ordinal and keeps its log directory on its own
PVC. Storage is formatted only when the volume has no `meta.properties` yet, so a restart
never re-formats (the original re-formatted on every start).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import (
    CLUSTER_DOMAIN,
    app_labels,
    await_timeout,
    resource_block,
    storage_hint,
    volume_claim,
)

BROKER_PORT = 9092
CONTROLLER_PORT = 9093
KAFKA_UID = 1000
STATEFULSET = "kafka"
HEADLESS_SERVICE = "kafka-headless"
CLIENT_SERVICE = "kafka"
# The image declares this path a VOLUME: mounting the claim anywhere else would leave the
# data on an anonymous volume that dies with the container.
DATA_MOUNT = "/var/lib/kafka/data"

# `${...}` is shell expansion at start; Kubernetes only expands `$(NAME)`, which this avoids.
# log.dirs is a subdirectory: a fresh cloud volume has lost+found at its root, which Kafka
# would take for a malformed partition directory.
START_SCRIPT = f"""\
node_id="${{POD_NAME##*-}}"
data={DATA_MOUNT}/logs
cat > /tmp/server.properties <<EOF
process.roles=broker,controller
node.id=${{node_id}}
controller.quorum.voters=${{BROKER_VOTERS}}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://:{BROKER_PORT},CONTROLLER://:{CONTROLLER_PORT}
advertised.listeners=${{BROKER_ADVERTISED_LISTENERS}}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${{data}}
auto.create.topics.enable=false
default.replication.factor=${{BROKER_REPLICATION_FACTOR}}
min.insync.replicas=${{BROKER_MIN_INSYNC_REPLICAS}}
offsets.topic.replication.factor=${{BROKER_REPLICATION_FACTOR}}
transaction.state.log.replication.factor=${{BROKER_REPLICATION_FACTOR}}
transaction.state.log.min.isr=${{BROKER_MIN_INSYNC_REPLICAS}}
EOF
if [ ! -f "${{data}}/meta.properties" ]; then
  echo "formatting new storage of node ${{node_id}} for cluster ${{BROKER_CLUSTER_ID}}"
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "${{BROKER_CLUSTER_ID}}" \\
    --config /tmp/server.properties
fi
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
"""


def cluster_id(namespace: str) -> str:
    """A stable KRaft cluster id (22 characters of URL-safe base64) per namespace.

    Derived, not random, so that re-running the program never hands a formatted volume a
    different id.
    """
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"dccf-kafka/{namespace}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def voters(replicas: int, namespace: str) -> str:
    return ",".join(
        f"{i}@{STATEFULSET}-{i}.{HEADLESS_SERVICE}.{namespace}.{CLUSTER_DOMAIN}:{CONTROLLER_PORT}"
        for i in range(replicas)
    )


@dataclass(frozen=True)
class KafkaArgs:
    namespace: pulumi.Output[str]
    image: str
    replicas: int
    replication_factor: int
    min_insync_replicas: int
    storage_size: str
    storage_class: str
    resources: Mapping[str, Mapping[str, str]]
    ready_timeout_seconds: int


class KafkaCluster(pulumi.ComponentResource):
    bootstrap: pulumi.Output[str]

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:KafkaCluster", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = app_labels("kafka")
        ports = [
            {"name": "broker", "port": BROKER_PORT, "targetPort": "broker"},
            {"name": "controller", "port": CONTROLLER_PORT, "targetPort": "controller"},
        ]
        headless = k8s.core.v1.Service(
            f"{name}-headless",
            metadata={"name": HEADLESS_SERVICE, "namespace": args.namespace, "labels": labels},
            spec={
                "clusterIP": "None",
                # Voters must find each other before any of them is ready.
                "publishNotReadyAddresses": True,
                "selector": labels,
                "ports": ports,
            },
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-client",
            metadata={"name": CLIENT_SERVICE, "namespace": args.namespace, "labels": labels},
            spec={"selector": labels, "ports": ports[:1]},
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            name,
            metadata={"name": STATEFULSET, "namespace": args.namespace, "labels": labels},
            spec={
                "maxUnavailable": args.replication_factor - args.min_insync_replicas,
                "selector": {"matchLabels": labels},
            },
            opts=child,
        )
        statefulset = k8s.apps.v1.StatefulSet(
            name,
            metadata={
                "name": STATEFULSET,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": await_timeout(args.ready_timeout_seconds),
            },
            spec={
                "serviceName": headless.metadata.apply(lambda m: m.name),
                "replicas": args.replicas,
                # OrderedReady would deadlock: broker 0 is not ready until a quorum is up.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": labels},
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": KAFKA_UID,
                            "runAsGroup": KAFKA_UID,
                            "fsGroup": KAFKA_UID,
                        },
                        "terminationGracePeriodSeconds": 60,
                        "affinity": _spread(labels),
                        "containers": [
                            {
                                "name": "kafka",
                                "image": args.image,
                                "command": ["/bin/bash", "-ec", START_SCRIPT],
                                "ports": [
                                    {"name": "broker", "containerPort": BROKER_PORT},
                                    {"name": "controller", "containerPort": CONTROLLER_PORT},
                                ],
                                "env": _env(args),
                                "readinessProbe": {
                                    "tcpSocket": {"port": "broker"},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 5,
                                },
                                "livenessProbe": {
                                    "tcpSocket": {"port": "controller"},
                                    "initialDelaySeconds": 60,
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
            pulumi.log.info(
                storage_hint("Kafka's brokers", args.ready_timeout_seconds), statefulset
            )
        self.bootstrap = pulumi.Output.concat(
            CLIENT_SERVICE, ".", args.namespace, f".{CLUSTER_DOMAIN}:{BROKER_PORT}"
        )
        self.register_outputs({"bootstrap": self.bootstrap})


def _env(args: KafkaArgs) -> list[dict[str, object]]:
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "BROKER_CLUSTER_ID", "value": args.namespace.apply(cluster_id)},
        {
            "name": "BROKER_VOTERS",
            "value": args.namespace.apply(lambda ns: voters(args.replicas, ns)),
        },
        {
            "name": "BROKER_ADVERTISED_LISTENERS",
            "value": pulumi.Output.concat(
                f"PLAINTEXT://$(POD_NAME).{HEADLESS_SERVICE}.",
                args.namespace,
                f".{CLUSTER_DOMAIN}:{BROKER_PORT}",
            ),
        },
        {"name": "BROKER_REPLICATION_FACTOR", "value": str(args.replication_factor)},
        {"name": "BROKER_MIN_INSYNC_REPLICAS", "value": str(args.min_insync_replicas)},
        {"name": "KAFKA_HEAP_OPTS", "value": "-Xms256m -Xmx512m"},
    ]


def _spread(labels: Mapping[str, str]) -> dict[str, object]:
    """Prefer one broker per node; still schedule when there are fewer nodes than brokers."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": dict(labels)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }
