"""Stack config: defaults for a 3-node minikube, explicit values kept, bad values refused."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pulumi
import pytest
import yaml
from config import DEFAULT_NODE_LABELS, ConfigError, StackConfig, load
from infra_render import REPO_ROOT, SECRET_CONFIG


def _load(values: dict[str, Any], secrets: dict[str, str] | None = None) -> StackConfig:
    secrets = SECRET_CONFIG if secrets is None else secrets
    merged = {**values, **secrets}
    pulumi.runtime.set_all_config(
        {f"dccf:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in merged.items()},
        [f"dccf:{k}" for k in secrets],
    )
    return load()


def test_defaults_fit_a_three_node_minikube() -> None:
    cfg = _load({})
    assert (cfg.namespace, cfg.kafka_replicas, cfg.kafka_partitions) == ("dccf", 3, 6)
    assert (cfg.kafka_replication_factor, cfg.kafka_min_insync_replicas) == (3, 2)
    assert cfg.node_labels == DEFAULT_NODE_LABELS
    assert cfg.master_node_selector == {"role": "master-node"}
    assert cfg.worker_node_selector == {"role": "worker"}
    assert (cfg.service_type, cfg.service_port, cfg.storage_class) == ("LoadBalancer", 80, "")
    assert (cfg.image, cfg.image_registry, cfg.minikube_profile) == ("", "", "minikube")
    assert cfg.image_load_command == ()
    assert (cfg.kafka_image, cfg.postgres_image, cfg.dind_image) == (
        "apache/kafka:4.1.0",
        "postgres:17.6-bookworm",
        "docker:28.3.3-dind",
    )
    assert (cfg.dind_security, cfg.ready_timeout_seconds) == ("privileged", 600)


def test_the_extra_ca_file_defaults_to_the_dind_check_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DCCF_EXTRA_CA_CERT_FILE", "/etc/proxy-ca.pem")
    assert _load({}).extra_ca_cert_file == "/etc/proxy-ca.pem"
    assert _load({"extraCaCertFile": "/x.pem"}).extra_ca_cert_file == "/x.pem"


def test_an_explicit_zero_or_empty_value_is_kept() -> None:
    cfg = _load({"workerReplicas": 0, "nodeLabels": {}, "workerNodeSelector": {}})
    assert cfg.worker_replicas == 0
    assert cfg.node_labels == {}
    assert cfg.worker_node_selector == {}


def test_resource_overrides_merge_with_the_defaults() -> None:
    cfg = _load({"resources": {"dind": {"limits": {"memory": "8Gi"}}}})
    assert cfg.resources["dind"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert cfg.resources["dind"]["requests"] == {"cpu": "250m", "memory": "256Mi"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafkaReplicas": 1}, "dccf:kafkaReplicas=1"),
        ({"masterReplicas": 1}, "dccf:masterReplicas=1"),
        ({"kafkaPartitions": 0}, "dccf:kafkaPartitions=0"),
        ({"workerSlots": 0}, "dccf:workerSlots=0"),
        ({"serviceType": "Ingress"}, "dccf:serviceType='Ingress'"),
        ({"image": "x:1", "imageRegistry": "r.example.com"}, "not both"),
        ({"resources": {"kafak": {}}}, "unknown parts kafak"),
        ({"resources": {"kafka": {"limit": {}}}}, "use requests or limits"),
        ({"dindSecurity": "root"}, "dccf:dindSecurity='root'"),
        ({"readyTimeoutSeconds": 0}, "dccf:readyTimeoutSeconds=0"),
        ({"kafkaImage": " "}, "dccf:kafkaImage is empty"),
        ({"imageLoadCommand": {"kind": "load"}}, "give a list of strings"),
        ({"imageLoadCommand": ["kind"], "image": "x:1"}, "dccf:imageLoadCommand is set"),
    ],
)
def test_values_that_cannot_work_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(values)


def test_the_postgres_password_is_required() -> None:
    with pytest.raises(pulumi.ConfigMissingError):
        _load({}, secrets={})


@pytest.mark.parametrize("secret", ["postgres_password", "api_tokens", "webhook_secret"])
def test_secrets_stay_pulumi_secrets(secret: str) -> None:
    cfg = _load({})

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        value: pulumi.Output[str] = getattr(cfg, secret)
        return pulumi.Output.all(value.is_secret(), value).apply(_assert_secret)

    check()


def test_optional_secrets_default_to_empty_secrets() -> None:
    cfg = _load({}, secrets={"postgresPassword": "p"})

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        return pulumi.Output.all(cfg.api_tokens.is_secret(), cfg.api_tokens).apply(
            lambda parts: _assert_secret(parts, expected="")
        )

    check()


def _assert_secret(parts: list[Any], expected: str | None = None) -> None:
    is_secret, value = parts
    assert is_secret is True
    if expected is not None:
        assert value == expected


def test_the_commented_example_shows_the_defaults() -> None:
    example = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml.example").read_text())["config"]
    assert all(key.startswith("dccf:") for key in example)
    from_example = _load({key.removeprefix("dccf:"): value for key, value in example.items()})
    defaults = _load({})
    for name in (f.name for f in fields(StackConfig) if f.type != "pulumi.Output[str]"):
        assert getattr(from_example, name) == getattr(defaults, name), name
