"""Small helpers shared by the components: labels, cluster DNS names, resource blocks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s

CLUSTER_DOMAIN = "svc.cluster.local"


def app_labels(component: str) -> dict[str, str]:
    """Pod labels; Services, PDBs and workload selectors all use exactly these."""
    return {"app.kubernetes.io/name": "dccf", "app.kubernetes.io/component": component}


def service_host(service: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """The fully qualified name, so a pod in any namespace can use it."""
    return pulumi.Output.concat(service, ".", namespace, ".", CLUSTER_DOMAIN)


def created_name(metadata: k8s.meta.v1.outputs.ObjectMeta) -> str:
    """The name of an object Kubernetes created; typed optional only because inputs may omit it."""
    if metadata.name is None:
        raise RuntimeError("Kubernetes created an object without a name")
    return metadata.name


def await_timeout(seconds: int) -> dict[str, str]:
    """Annotations that bound how long `pulumi up` waits for the object to become ready."""
    return {"pulumi.com/timeoutSeconds": str(seconds)}


def resource_block(
    resources: Mapping[str, Mapping[str, str]], times: int = 1
) -> dict[str, dict[str, str]]:
    """Requests and limits as given, or each quantity `times` over (per-slot amounts)."""
    return {
        kind: {name: scale_quantity(value, times) for name, value in values.items()}
        for kind, values in resources.items()
    }


_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>[a-zA-Z]*)")


def scale_quantity(quantity: str, times: int) -> str:
    """A Kubernetes quantity (`250m`, `2`, `1.5Gi`) multiplied by a whole number."""
    if times == 1:
        return quantity
    match = _QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity such as 250m or 2Gi")
    number = Decimal(match["number"]) * times
    text = format(number.normalize(), "f")
    return f"{text}{match['suffix']}"


def node_selector(selector: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Pod spec fields to splat in; an empty selector is left out (any node will do)."""
    return {"nodeSelector": dict(selector)} if selector else {}


def storage_hint(what: str, timeout_seconds: int) -> str:
    """Said next to a StatefulSet whose volumes come from the cluster's default StorageClass:
    without one its claims stay Pending, which the provider reports only as unready pods."""
    return (
        f"{what} claim volumes of the cluster's default StorageClass. If the cluster has none, "
        f"the claims stay Pending and this resource fails after {timeout_seconds} s: check "
        "`kubectl get storageclass` (one marked '(default)'), or set dccf:storageClass"
    )


def volume_claim(name: str, size: str, storage_class: str) -> dict[str, object]:
    """A StatefulSet claim template; no storage class means the cluster's default one."""
    spec: dict[str, object] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}
