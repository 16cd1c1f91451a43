"""Each invariant, broken on purpose in a copy of the rendered default stack, is reported."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from infra_invariants import Obj, problems
from infra_render import SECRET_CONFIG, Rendered
from infra_variants import expect_for


def _named(objects: list[Obj], kind: str, name: str) -> Obj:
    (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    return obj


def _pod(objects: list[Obj], kind: str, name: str) -> dict[str, Any]:
    return _named(objects, kind, name)["spec"]["template"]["spec"]


def _env(container: Obj, name: str) -> dict[str, Any]:
    return next(e for e in container["env"] if e["name"] == name)


def _config(objects: list[Obj]) -> dict[str, str]:
    return _named(objects, "ConfigMap", "dccf-settings")["data"]


def service_selects_nothing(objects: list[Obj]) -> None:
    _named(objects, "Service", "dccf-master")["spec"]["selector"]["app.kubernetes.io/component"] = (
        "api"
    )


def service_targets_a_missing_port(objects: list[Obj]) -> None:
    _named(objects, "Service", "postgres")["spec"]["ports"][0]["targetPort"] = "pg"


def workload_selector_misses_its_pods(objects: list[Obj]) -> None:
    _named(objects, "Deployment", "dccf-worker")["spec"]["selector"]["matchLabels"]["tier"] = "x"


def pdb_selects_nothing(objects: list[Obj]) -> None:
    labels = _named(objects, "PodDisruptionBudget", "kafka")["spec"]["selector"]["matchLabels"]
    labels["app.kubernetes.io/component"] = "broker"


def pg_host_misspelled(objects: list[Obj]) -> None:
    _config(objects)["DCCF_PG_HOST"] = "postgress.dccf.svc.cluster.local"


def pg_port_wrong(objects: list[Obj]) -> None:
    _config(objects)["DCCF_PG_PORT"] = "5433"


def bootstrap_in_another_namespace(objects: list[Obj]) -> None:
    _config(objects)["DCCF_KAFKA_BOOTSTRAP"] = "kafka.default.svc.cluster.local:9092"


def advertised_listener_names_a_missing_service(objects: list[Obj]) -> None:
    container = _pod(objects, "StatefulSet", "kafka")["containers"][0]
    _env(container, "BROKER_ADVERTISED_LISTENERS")["value"] = (
        "PLAINTEXT://$(POD_NAME).kafka-brokers.dccf.svc.cluster.local:9092"
    )


def headless_service_made_ordinary(objects: list[Obj]) -> None:
    del _named(objects, "Service", "kafka-headless")["spec"]["clusterIP"]


def brokers_scaled_without_voters(objects: list[Obj]) -> None:
    _named(objects, "StatefulSet", "kafka")["spec"]["replicas"] = 5


def voter_dropped(objects: list[Obj]) -> None:
    container = _pod(objects, "StatefulSet", "kafka")["containers"][0]
    voters = _env(container, "BROKER_VOTERS")
    voters["value"] = ",".join(voters["value"].split(",")[:2])


def broker_min_isr_equals_replication(objects: list[Obj]) -> None:
    container = _pod(objects, "StatefulSet", "kafka")["containers"][0]
    _env(container, "BROKER_MIN_INSYNC_REPLICAS")["value"] = "3"


def topic_replication_exceeds_brokers(objects: list[Obj]) -> None:
    container = _pod(objects, "Job", "jobs-topic")["containers"][0]
    _env(container, "TOPIC_REPLICATION_FACTOR")["value"] = "4"


def topic_min_isr_equals_replication(objects: list[Obj]) -> None:
    container = _pod(objects, "Job", "jobs-topic")["containers"][0]
    _env(container, "TOPIC_MIN_INSYNC_REPLICAS")["value"] = "3"


def services_use_another_topic(objects: list[Obj]) -> None:
    _config(objects)["DCCF_KAFKA_TOPIC"] = "jobs"


def node_selector_matches_no_label(objects: list[Obj]) -> None:
    _pod(objects, "Deployment", "dccf-master")["nodeSelector"] = {"role": "master"}


def old_image_deployed(objects: list[Obj]) -> None:
    _pod(objects, "Deployment", "dccf-worker")["containers"][0]["image"] = "dccf-services:old"


def password_in_a_config_map(objects: list[Obj]) -> None:
    _config(objects)["DCCF_PG_PASSWORD"] = SECRET_CONFIG["postgresPassword"]


def token_in_an_env_literal(objects: list[Obj]) -> None:
    container = _pod(objects, "Deployment", "dccf-master")["containers"][0]
    container["env"].append({"name": "DCCF_TOKEN_COPY", "value": SECRET_CONFIG["apiTokens"]})


def env_name_unknown_to_settings(objects: list[Obj]) -> None:
    _config(objects)["DCCF_POSTGRES_HOST"] = "postgres"


def secret_key_missing(objects: list[Obj]) -> None:
    container = _pod(objects, "Deployment", "dccf-master")["containers"][0]
    _env(container, "DCCF_WEBHOOK_SECRET")["valueFrom"]["secretKeyRef"]["key"] = "WEBHOOK"


def config_map_missing(objects: list[Obj]) -> None:
    objects.remove(_named(objects, "ConfigMap", "dccf-settings"))


def object_in_default_namespace(objects: list[Obj]) -> None:
    del _named(objects, "Job", "jobs-topic")["metadata"]["namespace"]


def daemon_listens_elsewhere(objects: list[Obj]) -> None:
    _pod(objects, "Deployment", "dccf-worker")["initContainers"][0]["args"][1] = (
        "--host=unix:///var/run/docker.sock"
    )


def daemon_left_to_the_entrypoint_defaults(objects: list[Obj]) -> None:
    _pod(objects, "Deployment", "dccf-worker")["initContainers"][0]["args"].pop(0)


def socket_volume_not_shared(objects: list[Obj]) -> None:
    dind = _pod(objects, "Deployment", "dccf-worker")["initContainers"][0]
    dind["volumeMounts"] = [m for m in dind["volumeMounts"] if m["name"] != "dind-socket"]


def grace_too_short(objects: list[Obj]) -> None:
    _pod(objects, "Deployment", "dccf-worker")["terminationGracePeriodSeconds"] = 30


BREAKS: dict[Callable[[list[Obj]], None], str] = {
    service_selects_nothing: "Service dccf-master: selector",
    service_targets_a_missing_port: "targetPort pg is no port of postgres",
    workload_selector_misses_its_pods: "Deployment dccf-worker: selector",
    pdb_selects_nothing: "PodDisruptionBudget kafka: selector",
    pg_host_misspelled: "names postgress.dccf.svc.cluster.local, which no Service serves",
    pg_port_wrong: "uses port 5433, which Service postgres lacks",
    bootstrap_in_another_namespace: "names kafka.default.svc.cluster.local",
    advertised_listener_names_a_missing_service: "kafka-0.kafka-brokers",
    headless_service_made_ordinary: "names pod kafka-0, which headless kafka-headless lacks",
    brokers_scaled_without_voters: "do not match 5 replicas",
    voter_dropped: "do not match 3 replicas",
    broker_min_isr_equals_replication: "Kafka min.insync.replicas 3 is not below",
    topic_replication_exceeds_brokers: "topic replication factor 4 exceeds the 3 brokers",
    topic_min_isr_equals_replication: "topic min.insync.replicas 3 is not below",
    services_use_another_topic: "services use topic jobs",
    node_selector_matches_no_label: "nodeSelector {'role': 'master'} matches no labelled node",
    old_image_deployed: "dccf-worker runs dccf-services:old",
    password_in_a_config_map: "ConfigMap dccf-settings",
    token_in_an_env_literal: "Deployment dccf-master holds a secret in plain text",
    env_name_unknown_to_settings: "DCCF_POSTGRES_HOST is not read by dccf/settings.py",
    secret_key_missing: "has no key WEBHOOK",
    config_map_missing: "is not declared",
    object_in_default_namespace: "is in default",
    daemon_listens_elsewhere: "no native sidecar daemon listens on",
    daemon_left_to_the_entrypoint_defaults: "the Docker daemon would also listen on TCP",
    socket_volume_not_shared: "share no volume at /var/run/dind",
    grace_too_short: "grace 30 s is shorter than a 3600 s job",
}


@pytest.mark.parametrize("breaking", BREAKS, ids=lambda f: f.__name__)
def test_a_broken_copy_is_reported(
    default_stack: Rendered, breaking: Callable[[list[Obj]], None]
) -> None:
    objects = copy.deepcopy(default_stack.objects)
    breaking(objects)
    found = problems(objects, expect_for(default_stack))
    assert any(BREAKS[breaking] in problem for problem in found), found


def test_the_unbroken_stack_reports_nothing(default_stack: Rendered) -> None:
    assert problems(default_stack.objects, expect_for(default_stack)) == []
