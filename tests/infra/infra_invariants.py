"""The invariants that keep a rendered DCCF cluster working, as one checker over plain objects.

`problems(objects, expect)` returns a sentence per broken invariant (empty: all hold). It reads
only the rendered Kubernetes objects, so a test can hand it a deliberately broken copy and see
the break reported.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
CLUSTER_SCOPED = {"Namespace", "Node"}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
SERVICE_COMMANDS = {"dccf-master", "dccf-worker"}
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "dccf" / "settings.py"
ADDRESS = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:\d+@)?(?P<host>[A-Za-z0-9$()._-]+):(?P<port>\d+)/?$"
)
LOCAL_HOSTS = re.compile(r"^(localhost|\d{1,3}(\.\d{1,3}){3})$")


@dataclass(frozen=True)
class Expect:
    namespace: str
    built_image: str
    secret_values: tuple[str, ...]


def settings_env_names() -> set[str]:
    """Every `DCCF_*` name that dccf/settings.py reads."""
    source = SETTINGS_FILE.read_text()
    return {f"DCCF_{name}" for name in re.findall(r'_(?:str|int|float|bool)\("([A-Z_]+)"', source)}


# ---- walking the objects -------------------------------------------------------------------


def pod_spec(obj: Obj) -> Obj | None:
    if obj["kind"] in WORKLOADS:
        return obj.get("spec", {}).get("template", {}).get("spec")
    return None


def pod_labels(obj: Obj) -> dict[str, str]:
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def containers(spec: Obj) -> list[Obj]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def namespace_of(obj: Obj) -> str:
    return obj["metadata"].get("namespace", "default")


def find(objects: list[Obj], kind: str, name: str, namespace: str) -> Obj | None:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta.get("name") == name and namespace_of(obj) == namespace:
            return obj
    return None


def container_env(objects: list[Obj], obj: Obj, container: Obj) -> dict[str, str]:
    """The environment the container will see: ConfigMaps from envFrom, then env values,
    with `$(VAR)` expanded as the kubelet does and the pod name as the first pod's."""
    ns = namespace_of(obj)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        config_map = ref and find(objects, "ConfigMap", ref.get("name"), ns)
        if config_map:
            env.update(config_map.get("data", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = f"{obj['metadata']['name']}-0"
    return env


def workload_containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj, dict[str, str]]]:
    for obj in objects:
        spec = pod_spec(obj)
        for container in containers(spec or {}):
            yield obj, container, container_env(objects, obj, container)


def is_service_container(container: Obj) -> bool:
    return bool(SERVICE_COMMANDS & set(container.get("command", [])))


# ---- the invariants ------------------------------------------------------------------------


def selectors_match_pods(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            wanted = obj["spec"]["selector"]["matchLabels"]
            if not wanted.items() <= pod_labels(obj).items():
                yield f"{obj['kind']} {obj['metadata']['name']}: selector {wanted} misses its pods"
    for obj in objects:
        if obj["kind"] not in ("Service", "PodDisruptionBudget"):
            continue
        spec = obj["spec"]
        selector = spec.get("selector", {})
        selector = selector.get("matchLabels", selector) if obj["kind"] != "Service" else selector
        pods = [
            w
            for w in objects
            if w["kind"] in WORKLOADS
            and namespace_of(w) == namespace_of(obj)
            and selector.items() <= pod_labels(w).items()
        ]
        name = f"{obj['kind']} {obj['metadata']['name']}"
        if not pods:
            yield f"{name}: selector {selector} matches no pods"
            continue
        for port in spec.get("ports", []) if obj["kind"] == "Service" else []:
            target = port.get("targetPort", port["port"])
            for pod in pods:
                declared = [
                    p
                    for c in containers(pod_spec(pod) or {})
                    for p in c.get("ports", [])
                    if target in (p.get("name"), p["containerPort"])
                ]
                if not declared:
                    yield f"{name}: targetPort {target} is no port of {pod['metadata']['name']}"


def _addresses(env: Mapping[str, str]) -> Iterator[tuple[str, str, int]]:
    for key, value in env.items():
        if key.endswith("_HOST") and f"{key[:-5]}_PORT" in env and ":" not in value:
            port = env[f"{key[:-5]}_PORT"]
            value = f"{value}:{port}"
        for token in re.split(r"[,\s]+", value):
            match = ADDRESS.match(token)
            if match and not LOCAL_HOSTS.match(match["host"]) and match["host"] != "0.0.0.0":
                yield key, match["host"], int(match["port"])


def _resolve(host: str, namespace: str) -> tuple[str | None, str, str] | None:
    """(pod, service, namespace) for a cluster DNS name, or None when it is not one."""
    parts = host.split(".")
    if host.endswith(".svc.cluster.local"):
        parts = parts[:-3]
    elif host.endswith(".svc"):
        parts = parts[:-1]
    if len(parts) == 1:
        return None, parts[0], namespace
    if len(parts) == 2:
        return None, parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


def addresses_resolve(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj, container, env in workload_containers(objects):
        where = f"{obj['metadata']['name']}/{container['name']}"
        for key, host, port in _addresses(env):
            resolved = _resolve(host, namespace_of(obj))
            service = resolved and find(objects, "Service", resolved[1], resolved[2])
            if not resolved or not service:
                yield f"{where}: {key} names {host}, which no Service serves"
                continue
            pod, service_name, ns = resolved
            if port not in [p["port"] for p in service["spec"].get("ports", [])]:
                yield f"{where}: {key} uses port {port}, which Service {service_name} lacks"
            if pod is None:
                continue
            owners = [
                s
                for s in objects
                if s["kind"] == "StatefulSet"
                and namespace_of(s) == ns
                and s["spec"].get("serviceName") == service_name
                and pod.rpartition("-")[0] == s["metadata"]["name"]
                and pod.rpartition("-")[2].isdigit()
                and int(pod.rpartition("-")[2]) < s["spec"]["replicas"]
            ]
            if not owners or service["spec"].get("clusterIP") != "None":
                yield f"{where}: {key} names pod {pod}, which headless {service_name} lacks"


def kafka_quorum_matches_replicas(objects: list[Obj], expect: Expect) -> Iterator[str]:
    brokers = [
        (obj, env)
        for obj, _, env in workload_containers(objects)
        if obj["kind"] == "StatefulSet" and "BROKER_VOTERS" in env
    ]
    if len(brokers) != 1:
        yield f"expected one Kafka StatefulSet, found {len(brokers)}"
        return
    sts, env = brokers[0]
    replicas, name = sts["spec"]["replicas"], sts["metadata"]["name"]
    service, ns = sts["spec"]["serviceName"], namespace_of(sts)
    voters = env["BROKER_VOTERS"].split(",")
    expected = [
        f"{i}@{name}-{i}.{service}.{ns}.svc.cluster.local:{_controller_port(sts)}"
        for i in range(replicas)
    ]
    if voters != expected:
        yield f"Kafka voters {voters} do not match {replicas} replicas ({expected})"
    factor = int(env["BROKER_REPLICATION_FACTOR"])
    min_isr = int(env["BROKER_MIN_INSYNC_REPLICAS"])
    if not 1 <= factor <= replicas:
        yield f"Kafka default replication factor {factor} does not fit {replicas} brokers"
    if not 1 <= min_isr < factor:
        yield f"Kafka min.insync.replicas {min_isr} is not below replication factor {factor}"


def _controller_port(sts: Obj) -> int | None:
    for container in containers(pod_spec(sts) or {}):
        for port in container.get("ports", []):
            if port.get("name") == "controller":
                return port["containerPort"]
    return None


def topic_fits_brokers(objects: list[Obj], expect: Expect) -> Iterator[str]:
    brokers = [
        o["spec"]["replicas"]
        for o, _, env in workload_containers(objects)
        if o["kind"] == "StatefulSet" and "BROKER_VOTERS" in env
    ]
    topics = [env for o, _, env in workload_containers(objects) if "TOPIC_NAME" in env]
    service_envs = [env for _, c, env in workload_containers(objects) if is_service_container(c)]
    if len(topics) != 1 or not brokers:
        yield f"expected one topic Job and a Kafka cluster, found {len(topics)} and {len(brokers)}"
        return
    topic = topics[0]
    factor, min_isr = (
        int(topic["TOPIC_REPLICATION_FACTOR"]),
        int(topic["TOPIC_MIN_INSYNC_REPLICAS"]),
    )
    if factor > brokers[0]:
        yield f"topic replication factor {factor} exceeds the {brokers[0]} brokers"
    if not 1 <= min_isr < factor:
        yield f"topic min.insync.replicas {min_isr} is not below replication factor {factor}"
    for env in service_envs:
        if env.get("DCCF_KAFKA_TOPIC") != topic["TOPIC_NAME"]:
            used, made = env.get("DCCF_KAFKA_TOPIC"), topic["TOPIC_NAME"]
            yield f"services use topic {used}, the Job makes {made}"
        if env.get("DCCF_KAFKA_PARTITIONS") != topic["TOPIC_PARTITIONS"]:
            yield "services' DCCF_KAFKA_PARTITIONS differs from the topic's partitions"


def node_selectors_match_labels(objects: list[Obj], expect: Expect) -> Iterator[str]:
    applied = [o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Node"]
    if not applied:
        return  # Nothing labelled here: the pools carry their labels already (clouds).
    for obj in objects:
        selector = (pod_spec(obj) or {}).get("nodeSelector", {})
        if selector and not any(selector.items() <= labels.items() for labels in applied):
            yield f"{obj['metadata']['name']}: nodeSelector {selector} matches no labelled node"


def services_run_built_image(objects: list[Obj], expect: Expect) -> Iterator[str]:
    found = False
    for obj, container, _ in workload_containers(objects):
        if is_service_container(container):
            found = True
            image, name = container["image"], obj["metadata"]["name"]
            if image != expect.built_image:
                yield f"{name} runs {image}, not {expect.built_image}"
    if not found:
        yield "no container runs dccf-master or dccf-worker"


def no_plaintext_secrets(objects: list[Obj], expect: Expect) -> Iterator[str]:
    needles = [v for s in expect.secret_values for v in (s, base64.b64encode(s.encode()).decode())]
    for obj in objects:
        if obj["kind"] == "Secret":
            obj = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
        text = json.dumps(obj)
        for needle in needles:
            if needle and needle in text:
                yield f"{obj['kind']} {obj['metadata']['name']} holds a secret in plain text"


def env_names_known(objects: list[Obj], expect: Expect) -> Iterator[str]:
    known = settings_env_names()
    for obj, container, env in workload_containers(objects):
        if not is_service_container(container):
            continue
        names = set(env) | {e["name"] for e in container.get("env", [])}
        for name in sorted(n for n in names if n.startswith("DCCF_") and n not in known):
            yield f"{obj['metadata']['name']}: {name} is not read by dccf/settings.py"


def references_exist(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj, container, _ in workload_containers(objects):
        ns, where = namespace_of(obj), f"{obj['metadata']['name']}/{container['name']}"
        for source in container.get("envFrom", []):
            name = source.get("configMapRef", {}).get("name")
            if name and not find(objects, "ConfigMap", name, ns):
                yield f"{where}: ConfigMap {name} is not declared"
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if not ref:
                continue
            secret = find(objects, "Secret", ref["name"], ns)
            keys = {**(secret or {}).get("data", {}), **(secret or {}).get("stringData", {})}
            if ref["key"] not in keys:
                yield f"{where}: Secret {ref['name']} has no key {ref['key']}"
    for obj in objects:
        service = obj.get("spec", {}).get("serviceName") if obj["kind"] == "StatefulSet" else None
        if service and not find(objects, "Service", service, namespace_of(obj)):
            yield f"StatefulSet {obj['metadata']['name']}: Service {service} is not declared"


def all_in_namespace(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED and namespace_of(obj) != expect.namespace:
            yield f"{obj['kind']} {obj['metadata']['name']} is in {namespace_of(obj)}"
    if not find(objects, "Namespace", expect.namespace, "default"):
        yield f"Namespace {expect.namespace} is not declared"


def docker_socket_shared(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj, container, env in workload_containers(objects):
        docker_host = env.get("DCCF_DOCKER_HOST", "")
        if not docker_host:
            continue
        where = obj["metadata"]["name"]
        socket_dir = docker_host.removeprefix("unix://").rpartition("/")[0]
        sidecars = [
            c
            for c in (pod_spec(obj) or {}).get("initContainers", [])
            if c.get("restartPolicy") == "Always" and f"--host={docker_host}" in c.get("args", [])
        ]
        if not sidecars:
            yield f"{where}: no native sidecar daemon listens on {docker_host}"
            continue
        args = sidecars[0]["args"]
        # Without `dockerd` first, the dind entrypoint adds an unauthenticated TCP listener.
        if args[0] != "dockerd" or any(a.startswith("--host=tcp") for a in args):
            yield f"{where}: the Docker daemon would also listen on TCP"
        mine = {
            m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == socket_dir
        }
        theirs = {
            m["name"] for m in sidecars[0].get("volumeMounts", []) if m["mountPath"] == socket_dir
        }
        if not mine & theirs:
            yield f"{where}: worker and daemon share no volume at {socket_dir}"


def grace_covers_jobs(objects: list[Obj], expect: Expect) -> Iterator[str]:
    for obj, container, env in workload_containers(objects):
        if "dccf-worker" in container.get("command", []):
            grace = (pod_spec(obj) or {}).get("terminationGracePeriodSeconds", 30)
            longest = int(env.get("DCCF_MAX_TIMEOUT_SECONDS", 86400))
            if grace < longest:
                name = obj["metadata"]["name"]
                yield f"{name}: grace {grace} s is shorter than a {longest} s job"


INVARIANTS: tuple[Callable[[list[Obj], Expect], Iterator[str]], ...] = (
    selectors_match_pods,
    addresses_resolve,
    kafka_quorum_matches_replicas,
    topic_fits_brokers,
    node_selectors_match_labels,
    services_run_built_image,
    no_plaintext_secrets,
    env_names_known,
    references_exist,
    all_in_namespace,
    docker_socket_shared,
    grace_covers_jobs,
)


def problems(objects: list[Obj], expect: Expect) -> list[str]:
    return [problem for invariant in INVARIANTS for problem in invariant(objects, expect)]
