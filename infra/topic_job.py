"""A Job that creates the jobs topic (the original needed it made by hand).

It retries until the brokers answer, so it can run while Kafka is still starting. Pulumi
waits for it to complete, and replaces it when its spec changes (a Job's pod template is
immutable).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import app_labels, await_timeout, resource_block
from kafka_cluster import KAFKA_UID

CREATE_SCRIPT = """\
until /opt/kafka/bin/kafka-topics.sh --bootstrap-server "${BOOTSTRAP_SERVER}" \\
    --create --if-not-exists --topic "${TOPIC_NAME}" \\
    --partitions "${TOPIC_PARTITIONS}" --replication-factor "${TOPIC_REPLICATION_FACTOR}" \\
    --config "min.insync.replicas=${TOPIC_MIN_INSYNC_REPLICAS}"; do
  echo "brokers at ${BOOTSTRAP_SERVER} not ready for the topic yet; retrying in 5 s"
  sleep 5
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "${BOOTSTRAP_SERVER}" \\
    --describe --topic "${TOPIC_NAME}"
"""


@dataclass(frozen=True)
class TopicArgs:
    namespace: pulumi.Output[str]
    image: str
    bootstrap: pulumi.Output[str]
    topic: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    resources: Mapping[str, Mapping[str, str]]
    ready_timeout_seconds: int


class TopicJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: TopicArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:TopicJob", name, {}, opts)
        labels = app_labels("topic")
        # Auto-named, so a replacement is created before the old Job is deleted.
        self.job = k8s.batch.v1.Job(
            name,
            metadata={
                "namespace": args.namespace,
                "labels": labels,
                "annotations": await_timeout(args.ready_timeout_seconds),
            },
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": 900,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": KAFKA_UID,
                            "runAsGroup": KAFKA_UID,
                        },
                        "containers": [
                            {
                                "name": "create-topic",
                                "image": args.image,
                                "command": ["/bin/bash", "-ec", CREATE_SCRIPT],
                                "env": [
                                    {"name": "BOOTSTRAP_SERVER", "value": args.bootstrap},
                                    {"name": "TOPIC_NAME", "value": args.topic},
                                    {"name": "TOPIC_PARTITIONS", "value": str(args.partitions)},
                                    {
                                        "name": "TOPIC_REPLICATION_FACTOR",
                                        "value": str(args.replication_factor),
                                    },
                                    {
                                        "name": "TOPIC_MIN_INSYNC_REPLICAS",
                                        "value": str(args.min_insync_replicas),
                                    },
                                    {"name": "KAFKA_HEAP_OPTS", "value": "-Xmx128m"},
                                ],
                                "resources": resource_block(args.resources),
                                "securityContext": {"allowPrivilegeEscalation": False},
                            }
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["spec"]),
        )
        self.register_outputs({})
