"""The `DCCF_*` settings both services read: a ConfigMap for plain values, a Secret for secrets.

Names must be the ones `dccf/settings.py` reads; tests/infra checks that they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import app_labels, created_name

SECRET_KEYS = ("DCCF_PG_PASSWORD", "DCCF_API_TOKENS", "DCCF_WEBHOOK_SECRET")


@dataclass(frozen=True)
class SettingsArgs:
    namespace: pulumi.Output[str]
    pg_host: pulumi.Output[str]
    pg_port: int
    pg_user: str
    pg_database: str
    pg_password: pulumi.Output[str]
    kafka_bootstrap: pulumi.Output[str]
    kafka_topic: str
    kafka_partitions: int
    max_job_seconds: int
    api_tokens: pulumi.Output[str]
    webhook_secret: pulumi.Output[str]


class ServiceSettings(pulumi.ComponentResource):
    config_map_name: pulumi.Output[str]
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: SettingsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:ServiceSettings", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = app_labels("settings")
        # Both auto-named: a changed value yields a new name, so the pods that use it roll.
        config_map = k8s.core.v1.ConfigMap(
            name,
            metadata={"namespace": args.namespace, "labels": labels},
            data={
                "DCCF_PG_HOST": args.pg_host,
                "DCCF_PG_PORT": str(args.pg_port),
                "DCCF_PG_USER": args.pg_user,
                "DCCF_PG_DATABASE": args.pg_database,
                "DCCF_KAFKA_BOOTSTRAP": args.kafka_bootstrap,
                "DCCF_KAFKA_TOPIC": args.kafka_topic,
                "DCCF_KAFKA_PARTITIONS": str(args.kafka_partitions),
                "DCCF_DEFAULT_TIMEOUT_SECONDS": str(min(3600, args.max_job_seconds)),
                "DCCF_MAX_TIMEOUT_SECONDS": str(args.max_job_seconds),
            },
            opts=child,
        )
        secret = k8s.core.v1.Secret(
            name,
            metadata={"namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data=dict(
                zip(
                    SECRET_KEYS,
                    (args.pg_password, args.api_tokens, args.webhook_secret),
                    strict=True,
                )
            ),
            opts=child,
        )
        self.config_map_name = config_map.metadata.apply(created_name)
        self.secret_name = secret.metadata.apply(created_name)
        self.register_outputs(
            {"config_map_name": self.config_map_name, "secret_name": self.secret_name}
        )

    def env(self) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        """`envFrom` for the ConfigMap and `env` entries for each secret key."""
        env_from: list[dict[str, object]] = [{"configMapRef": {"name": self.config_map_name}}]
        secrets: list[dict[str, object]] = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": key}}}
            for key in SECRET_KEYS
        ]
        return env_from, secrets
