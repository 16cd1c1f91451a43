"""The stack's configuration, read once into a frozen dataclass.

Defaults fit `minikube start --nodes 3`. Every getter passes its default explicitly, so a
configured 0 or empty value is kept, and a value that cannot work fails `pulumi up` with a
message naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

DEFAULT_NODE_LABELS: dict[str, dict[str, str]] = {
    "minikube-m03": {"role": "master-node"},
    "minikube-m02": {"role": "worker"},
}

DEFAULT_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "kafka": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "postgres": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    "master": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
    "worker": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    },
    # The daemon runs the users' jobs, so its limits bound every job on that pod.
    "dind": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
    "topic": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
}

SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")

# The third-party images; a cluster that cannot pull them names stand-ins of the same contract.
DEFAULT_KAFKA_IMAGE = "apache/kafka:4.1.0"
DEFAULT_POSTGRES_IMAGE = "postgres:17.6-bookworm"
DEFAULT_DIND_IMAGE = "docker:28.3.3-dind"
# How the workers' Docker daemons get their rights: a privileged container, or every
# capability but CAP_SYS_RESOURCE with seccomp and AppArmor unconfined, for clusters whose
# nodes cannot start privileged containers.
DIND_SECURITY_MODES = ("privileged", "capabilities")
# pulumi-kubernetes's own default wait for a resource to become ready.
DEFAULT_READY_TIMEOUT_SECONDS = 600


class ConfigError(ValueError):
    """A stack config value that cannot yield a working cluster."""


@dataclass(frozen=True)
class StackConfig:
    """Everything the components need; secrets stay `Output`s marked secret."""

    postgres_password: pulumi.Output[str]
    api_tokens: pulumi.Output[str]
    webhook_secret: pulumi.Output[str]
    namespace: str = "dccf"
    kafka_replicas: int = 3
    kafka_partitions: int = 6
    kafka_topic: str = "dccf-jobs"
    kafka_storage_size: str = "2Gi"
    postgres_storage_size: str = "2Gi"
    storage_class: str = ""
    master_replicas: int = 2
    worker_replicas: int = 2
    # Jobs each worker pod runs at once; the daemon's resources are per slot.
    worker_slots: int = 1
    service_type: str = "LoadBalancer"
    service_port: int = 80
    node_labels: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: DEFAULT_NODE_LABELS
    )
    master_node_selector: Mapping[str, str] = field(default_factory=lambda: {"role": "master-node"})
    worker_node_selector: Mapping[str, str] = field(default_factory=lambda: {"role": "worker"})
    resources: Mapping[str, Mapping[str, Mapping[str, str]]] = field(
        default_factory=lambda: DEFAULT_RESOURCES
    )
    max_job_seconds: int = 3600
    docker_storage_size: str = "20Gi"
    image: str = ""
    image_registry: str = ""
    minikube_profile: str = "minikube"
    image_load_command: tuple[str, ...] = ()
    extra_ca_cert_file: str = ""
    kafka_image: str = DEFAULT_KAFKA_IMAGE
    postgres_image: str = DEFAULT_POSTGRES_IMAGE
    dind_image: str = DEFAULT_DIND_IMAGE
    dind_security: str = "privileged"
    ready_timeout_seconds: int = DEFAULT_READY_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        _check(self)

    @property
    def kafka_replication_factor(self) -> int:
        """Three copies where there are three brokers; fewer brokers, fewer copies."""
        return min(3, self.kafka_replicas)

    @property
    def kafka_min_insync_replicas(self) -> int:
        """One less than the copies: a write survives one broker being down."""
        return self.kafka_replication_factor - 1


def _check(cfg: StackConfig) -> None:
    if cfg.kafka_replicas < 2:
        raise ConfigError(
            f"dccf:kafkaReplicas={cfg.kafka_replicas}: use at least 2 brokers, so that "
            "min.insync.replicas can stay below the replication factor"
        )
    if cfg.kafka_partitions < 1:
        raise ConfigError(f"dccf:kafkaPartitions={cfg.kafka_partitions}: use at least 1")
    if cfg.master_replicas < 2:
        raise ConfigError(
            f"dccf:masterReplicas={cfg.master_replicas}: use at least 2 so a rollout or a "
            "node loss keeps the API up"
        )
    if cfg.worker_replicas < 0:
        raise ConfigError(f"dccf:workerReplicas={cfg.worker_replicas}: must not be negative")
    if cfg.worker_slots < 1:
        raise ConfigError(f"dccf:workerSlots={cfg.worker_slots}: use at least 1")
    if cfg.service_type not in SERVICE_TYPES:
        raise ConfigError(
            f"dccf:serviceType={cfg.service_type!r}: use one of {', '.join(SERVICE_TYPES)}"
        )
    if not 1 <= cfg.service_port <= 65535:
        raise ConfigError(f"dccf:servicePort={cfg.service_port}: not a TCP port")
    if cfg.max_job_seconds < 1:
        raise ConfigError(f"dccf:maxJobSeconds={cfg.max_job_seconds}: use at least 1")
    if cfg.image and cfg.image_registry:
        raise ConfigError(
            "dccf:image and dccf:imageRegistry are both set: give a prebuilt image, or a "
            "registry to push the built one to, not both"
        )
    if cfg.image_load_command and (cfg.image or cfg.image_registry):
        raise ConfigError(
            "dccf:imageLoadCommand is set with dccf:image or dccf:imageRegistry: a built image "
            "is either loaded by the command, pushed to the registry, or not built at all"
        )
    if cfg.dind_security not in DIND_SECURITY_MODES:
        raise ConfigError(
            f"dccf:dindSecurity={cfg.dind_security!r}: use one of {', '.join(DIND_SECURITY_MODES)}"
        )
    if cfg.ready_timeout_seconds < 1:
        raise ConfigError(f"dccf:readyTimeoutSeconds={cfg.ready_timeout_seconds}: use at least 1")
    for key, image in (
        ("kafkaImage", cfg.kafka_image),
        ("postgresImage", cfg.postgres_image),
        ("dindImage", cfg.dind_image),
    ):
        if not image.strip():
            raise ConfigError(f"dccf:{key} is empty: name an image, or leave the key out")
    missing = sorted(set(DEFAULT_RESOURCES) - set(cfg.resources))
    if missing:
        raise ConfigError(f"dccf:resources lacks {', '.join(missing)}")


def _merge_resources(overrides: Mapping[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Overrides replace single requests/limits entries; the rest keep their defaults."""
    unknown = sorted(set(overrides) - set(DEFAULT_RESOURCES))
    if unknown:
        raise ConfigError(
            f"dccf:resources has unknown parts {', '.join(unknown)}; "
            f"known: {', '.join(DEFAULT_RESOURCES)}"
        )
    merged = {
        name: {kind: dict(values) for kind, values in parts.items()}
        for name, parts in DEFAULT_RESOURCES.items()
    }
    for name, parts in overrides.items():
        for kind, values in parts.items():
            if kind not in ("requests", "limits"):
                raise ConfigError(f"dccf:resources.{name}.{kind}: use requests or limits")
            merged[name].setdefault(kind, {}).update({k: str(v) for k, v in values.items()})
    return merged


def _int(config: pulumi.Config, key: str, default: int) -> int:
    value = config.get_int(key)
    return default if value is None else value


def _str(config: pulumi.Config, key: str, default: str) -> str:
    value = config.get(key)
    return default if value is None else value


def _object(config: pulumi.Config, key: str, default: Any) -> Any:
    value = config.get_object(key)
    return default if value is None else value


def _command(config: pulumi.Config, key: str) -> tuple[str, ...]:
    value = _object(config, key, [])
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise ConfigError(f"dccf:{key}: give a list of strings, e.g. [kind, load, docker-image]")
    return tuple(value)


def load() -> StackConfig:
    """Read the stack config (namespace `dccf:`) once."""
    config = pulumi.Config("dccf")
    return StackConfig(
        postgres_password=config.require_secret("postgresPassword"),
        api_tokens=config.get_secret("apiTokens") or pulumi.Output.secret(""),
        webhook_secret=config.get_secret("webhookSecret") or pulumi.Output.secret(""),
        namespace=_str(config, "namespace", "dccf"),
        kafka_replicas=_int(config, "kafkaReplicas", 3),
        kafka_partitions=_int(config, "kafkaPartitions", 6),
        kafka_topic=_str(config, "kafkaTopic", "dccf-jobs"),
        kafka_storage_size=_str(config, "kafkaStorageSize", "2Gi"),
        postgres_storage_size=_str(config, "postgresStorageSize", "2Gi"),
        storage_class=_str(config, "storageClass", ""),
        master_replicas=_int(config, "masterReplicas", 2),
        worker_replicas=_int(config, "workerReplicas", 2),
        worker_slots=_int(config, "workerSlots", 1),
        service_type=_str(config, "serviceType", "LoadBalancer"),
        service_port=_int(config, "servicePort", 80),
        node_labels=_object(config, "nodeLabels", DEFAULT_NODE_LABELS),
        master_node_selector=_object(config, "masterNodeSelector", {"role": "master-node"}),
        worker_node_selector=_object(config, "workerNodeSelector", {"role": "worker"}),
        resources=_merge_resources(_object(config, "resources", {})),
        max_job_seconds=_int(config, "maxJobSeconds", 3600),
        docker_storage_size=_str(config, "dockerStorageSize", "20Gi"),
        image=_str(config, "image", ""),
        image_registry=_str(config, "imageRegistry", ""),
        minikube_profile=_str(config, "minikubeProfile", "minikube"),
        image_load_command=_command(config, "imageLoadCommand"),
        # The same setting as scripts/dind-check, so one variable serves every image build.
        extra_ca_cert_file=_str(
            config, "extraCaCertFile", os.environ.get("DCCF_EXTRA_CA_CERT_FILE", "")
        ),
        kafka_image=_str(config, "kafkaImage", DEFAULT_KAFKA_IMAGE),
        postgres_image=_str(config, "postgresImage", DEFAULT_POSTGRES_IMAGE),
        dind_image=_str(config, "dindImage", DEFAULT_DIND_IMAGE),
        dind_security=_str(config, "dindSecurity", "privileged"),
        ready_timeout_seconds=_int(config, "readyTimeoutSeconds", DEFAULT_READY_TIMEOUT_SECONDS),
    )
