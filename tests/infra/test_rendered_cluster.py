"""Every stack variant renders objects the API server accepts, and a cluster that holds together."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from infra_invariants import problems
from infra_render import Rendered
from infra_variants import VARIANTS, expect_for
from master_service import _url

# minikube's default Kubernetes (minikube v1.37); kubernetes-validate 1.34.1 ships its schema.
KUBERNETES_VERSION = "1.34.0"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_is_valid_in_strict_mode(
    rendered_variants: dict[str, Rendered], variant: str
) -> None:
    rendered = rendered_variants[variant]
    assert rendered.objects
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_mode_rejects_an_unknown_field(default_stack: Rendered) -> None:
    master = default_stack.named("Deployment", "dccf-master")
    broken = {**master, "spec": {**master["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_renders_a_consistent_cluster(
    rendered_variants: dict[str, Rendered], variant: str
) -> None:
    rendered = rendered_variants[variant]
    assert problems(rendered.objects, expect_for(rendered)) == []


def test_the_default_stack_declares_each_part(default_stack: Rendered) -> None:
    kinds = Counter(obj["kind"] for obj in default_stack.objects)
    assert kinds == {
        "Namespace": 1,
        "Node": 2,
        "StatefulSet": 2,
        "Service": 4,
        "PodDisruptionBudget": 1,
        "Secret": 2,
        "ConfigMap": 1,
        "Job": 1,
        "Deployment": 2,
    }


def test_minikube_nodes_are_labelled_for_master_and_workers(default_stack: Rendered) -> None:
    labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in default_stack.of_kind("Node")}
    assert labels == {"minikube-m03": {"role": "master-node"}, "minikube-m02": {"role": "worker"}}


def test_no_node_labelling_leaves_nodes_and_selectors_alone(
    rendered_variants: dict[str, Rendered],
) -> None:
    rendered = rendered_variants["cloud-no-node-labels"]
    assert rendered.of_kind("Node") == []
    for name in ("dccf-master", "dccf-worker"):
        assert "nodeSelector" not in rendered.named("Deployment", name)["spec"]["template"]["spec"]
    claims = rendered.named("StatefulSet", "kafka")["spec"]["volumeClaimTemplates"]
    assert claims[0]["spec"]["storageClassName"] == "premium-rwo"


def test_kafka_brokers_follow_the_replica_count(rendered_variants: dict[str, Rendered]) -> None:
    for variant, brokers, factor, min_isr in (
        ("minikube-defaults", 3, 3, 2),
        ("five-brokers", 5, 3, 2),
        ("two-brokers", 2, 2, 1),
    ):
        kafka = rendered_variants[variant].named("StatefulSet", "kafka")
        env = {
            e["name"]: e.get("value")
            for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert kafka["spec"]["replicas"] == brokers
        assert len(env["BROKER_VOTERS"].split(",")) == brokers
        assert (env["BROKER_REPLICATION_FACTOR"], env["BROKER_MIN_INSYNC_REPLICAS"]) == (
            str(factor),
            str(min_isr),
        )
        pdb = rendered_variants[variant].named("PodDisruptionBudget", "kafka")
        assert pdb["spec"]["maxUnavailable"] == factor - min_isr


def test_kafka_cluster_id_is_stable_and_storage_formatted_once(
    default_stack: Rendered, render_stack
) -> None:
    def cluster_id(rendered: Rendered) -> str:
        container = rendered.named("StatefulSet", "kafka")["spec"]["template"]["spec"][
            "containers"
        ][0]
        return next(e["value"] for e in container["env"] if e["name"] == "BROKER_CLUSTER_ID")

    again = render_stack()
    assert cluster_id(again) == cluster_id(default_stack)
    assert len(cluster_id(default_stack)) == 22
    script = default_stack.named("StatefulSet", "kafka")["spec"]["template"]["spec"]["containers"][
        0
    ]["command"][-1]
    assert 'if [ ! -f "${data}/meta.properties" ]; then' in script


def test_workers_run_the_daemon_as_a_privileged_native_sidecar(default_stack: Rendered) -> None:
    spec = default_stack.named("Deployment", "dccf-worker")["spec"]["template"]["spec"]
    (dind,) = spec["initContainers"]
    assert dind["image"].startswith("docker:") and dind["image"].endswith("-dind")
    assert dind["restartPolicy"] == "Always"
    assert dind["securityContext"] == {"privileged": True}
    assert {"name": "DOCKER_TLS_CERTDIR", "value": ""} in dind["env"]
    assert "--host=unix:///var/run/dind/docker.sock" in dind["args"]
    assert {"name": "docker-storage", "mountPath": "/var/lib/docker"} in dind["volumeMounts"]
    assert "startupProbe" in dind
    (worker,) = spec["containers"]
    assert worker["command"] == ["dccf-worker"]
    assert worker["resources"]["limits"] and dind["resources"]["limits"]


def test_worker_slots_reach_the_worker_and_size_its_daemon(
    rendered_variants: dict[str, Rendered],
) -> None:
    def worker_pod(variant: str) -> dict[str, Any]:
        deployment = rendered_variants[variant].named("Deployment", "dccf-worker")
        return dict(deployment["spec"]["template"]["spec"])

    one, three = worker_pod("minikube-defaults"), worker_pod("three-slots-per-worker")
    assert {"name": "DCCF_WORKER_SLOTS", "value": "1"} in one["containers"][0]["env"]
    assert {"name": "DCCF_WORKER_SLOTS", "value": "3"} in three["containers"][0]["env"]
    assert one["initContainers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert three["initContainers"][0]["resources"] == {
        "requests": {"cpu": "750m", "memory": "768Mi"},
        "limits": {"cpu": "6", "memory": "6Gi"},
    }


def test_master_is_redundant_probed_and_exposed_on_port_80(default_stack: Rendered) -> None:
    deployment = default_stack.named("Deployment", "dccf-master")
    assert deployment["spec"]["replicas"] >= 2
    (master,) = deployment["spec"]["template"]["spec"]["containers"]
    assert master["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert master["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"name": "DCCF_HOST", "value": "0.0.0.0"} in master["env"]
    assert {"name": "DCCF_PORT", "value": "8080"} in master["env"]
    service = default_stack.named("Service", "dccf-master")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_services_read_secrets_from_the_secret(default_stack: Rendered) -> None:
    for name in ("dccf-master", "dccf-worker"):
        container = default_stack.named("Deployment", name)["spec"]["template"]["spec"][
            "containers"
        ][0]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert refs == {
            "DCCF_PG_PASSWORD": "DCCF_PG_PASSWORD",
            "DCCF_API_TOKENS": "DCCF_API_TOKENS",
            "DCCF_WEBHOOK_SECRET": "DCCF_WEBHOOK_SECRET",
        }


def test_secret_data_stays_a_pulumi_secret(default_stack: Rendered) -> None:
    for secret in default_stack.of_kind("Secret"):
        key = f"Secret/{secret['metadata']['name']}"
        assert default_stack.secret_paths[key] == [".stringData"]


def test_stack_outputs(rendered_variants: dict[str, Rendered]) -> None:
    assert rendered_variants["minikube-defaults"].outputs == {
        "masterUrl": "http://dccf-master.dccf.svc.cluster.local",
        "namespace": "dccf",
        "kafkaBootstrap": "kafka.dccf.svc.cluster.local:9092",
        "image": rendered_variants["minikube-defaults"].built_images[0]["ref"],
    }
    other = rendered_variants["other-namespace"].outputs
    assert other["namespace"] == "dccf-staging"
    assert other["kafkaBootstrap"] == "kafka.dccf-staging.svc.cluster.local:9092"


def _containers(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Every container and init container by name, across the workloads."""
    found = {}
    for obj in rendered.objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            found[f"{obj['metadata']['name']}/{container['name']}"] = container
    return found


def test_the_third_party_images_are_the_upstream_tags_unless_configured(
    rendered_variants: dict[str, Rendered],
) -> None:
    default = _containers(rendered_variants["minikube-defaults"])
    assert default["kafka/kafka"]["image"] == "apache/kafka:4.1.0"
    assert default["postgres/postgres"]["image"] == "postgres:17.6-bookworm"
    assert default["dccf-worker/dind"]["image"] == "docker:28.3.3-dind"
    local = _containers(rendered_variants["local-cluster"])
    assert local["kafka/kafka"]["image"] == "dccf-local/kafka:4.4.0"
    (topic,) = [c for name, c in local.items() if name.endswith("/create-topic")]
    assert topic["image"] == "dccf-local/kafka:4.4.0"
    assert local["postgres/postgres"]["image"] == "dccf-local/postgres:15-bookworm"
    assert local["dccf-worker/dind"]["image"] == "dccf-local/dind:20.10-bookworm"


def test_capabilities_mode_gives_the_daemon_every_right_but_privileged(
    rendered_variants: dict[str, Rendered],
) -> None:
    dind = _containers(rendered_variants["local-cluster"])["dccf-worker/dind"]
    assert dind["securityContext"] == {
        "privileged": False,
        "allowPrivilegeEscalation": True,
        "capabilities": {"add": ["ALL"], "drop": ["SYS_RESOURCE"]},
        "seccompProfile": {"type": "Unconfined"},
        "appArmorProfile": {"type": "Unconfined"},
    }
    # The cgroups are remounted read-write, then the image's own entrypoint gets the args.
    command = dind["command"]
    assert command[:2] == ["sh", "-ec"] and command[-1] == "dind"
    assert "mount -o remount,bind,rw" in command[2]
    assert command[2].rstrip().endswith('exec dockerd-entrypoint.sh "$@"')
    assert dind["args"][0] == "dockerd"


def test_waits_for_storage_backed_parts_are_bounded(rendered_variants: dict[str, Rendered]) -> None:
    for variant, seconds in (("minikube-defaults", "600"), ("local-cluster", "420")):
        rendered = rendered_variants[variant]
        bounded = [
            *rendered.of_kind("StatefulSet"),
            *rendered.of_kind("Job"),
        ]
        assert len(bounded) == 3
        for obj in bounded:
            assert obj["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == seconds


@pytest.mark.parametrize(
    ("status", "url"),
    [
        (None, "http://dccf-master.dccf.svc.cluster.local"),
        ({"loadBalancer": {}}, "http://dccf-master.dccf.svc.cluster.local"),
        ({"load_balancer": {"ingress": [{"ip": "203.0.113.7"}]}}, "http://203.0.113.7"),
        (
            SimpleNamespace(
                load_balancer=SimpleNamespace(
                    ingress=[SimpleNamespace(ip=None, hostname="lb.example.com")]
                )
            ),
            "http://lb.example.com",
        ),
    ],
)
def test_the_master_url_reads_the_service_status_in_either_form(status: Any, url: str) -> None:
    """The real engine hands a ClusterIP Service's status over as a dict, mocks as None."""
    assert _url(status, "dccf-master.dccf.svc.cluster.local", 80) == url
