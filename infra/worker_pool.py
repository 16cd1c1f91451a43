"""The workers: each pod is the worker container plus its own Docker daemon.

The daemon is a native sidecar (an init container with `restartPolicy: Always`): it starts,
and passes its startup probe, before the worker, and stops after it. They share only the
daemon's socket directory; outputs come back through the Docker API, so no other volume is
shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from k8s_objects import app_labels, node_selector, resource_block

NAME = "dccf-worker"
SERVICES_UID = 10001
SOCKET_DIR = "/var/run/dind"
DOCKER_HOST = f"unix://{SOCKET_DIR}/docker.sock"
# For dccf:dindSecurity=capabilities: a container that is not privileged gets its cgroup
# hierarchies mounted read-only, and dockerd must create cgroups for its containers. With
# every capability but CAP_SYS_RESOURCE (which some hosts withhold even from privileged
# containers) the daemon remounts them read-write itself, then starts as the image would.
# On cgroup v1 it also allows the devices runc grants every container but containerd's
# default rules leave out (/dev/console, /dev/fuse): the jobs' containers could not start.
REMOUNT_CGROUPS = """\
for mount in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts); do
  mount -o remount,bind,rw "$mount"
done
if [ -w /sys/fs/cgroup/devices/devices.allow ]; then
  for rule in "c 5:1 rwm" "c 10:229 rwm"; do
    echo "$rule" > /sys/fs/cgroup/devices/devices.allow
  done
fi
exec dockerd-entrypoint.sh "$@"
"""
# Time to build and collect after the run itself, on top of the longest job.
SHUTDOWN_MARGIN_SECONDS = 120


@dataclass(frozen=True)
class WorkerArgs:
    namespace: pulumi.Output[str]
    image: pulumi.Output[str]
    pull_policy: str
    replicas: int
    slots: int
    env_from: list[dict[str, Any]]
    secret_env: list[dict[str, Any]]
    max_job_seconds: int
    docker_storage_size: str
    dind_image: str
    dind_security: str
    node_selector: Mapping[str, str]
    worker_resources: Mapping[str, Mapping[str, str]]
    dind_resources: Mapping[str, Mapping[str, str]]


class WorkerPool(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dccf:k8s:WorkerPool", name, {}, opts)
        labels = app_labels("worker")
        socket_mount = {"name": "dind-socket", "mountPath": SOCKET_DIR}
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **node_selector(args.node_selector),
                        # SIGTERM lets the worker finish its current job before it leaves.
                        "terminationGracePeriodSeconds": args.max_job_seconds
                        + SHUTDOWN_MARGIN_SECONDS,
                        "initContainers": [_dind(args, socket_mount)],
                        "containers": [
                            {
                                "name": "worker",
                                "image": args.image,
                                "imagePullPolicy": args.pull_policy,
                                "command": ["dccf-worker"],
                                "envFrom": args.env_from,
                                "env": [
                                    {"name": "DCCF_DOCKER_HOST", "value": DOCKER_HOST},
                                    {"name": "DCCF_WORKER_SLOTS", "value": str(args.slots)},
                                    *args.secret_env,
                                ],
                                "resources": resource_block(args.worker_resources),
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "runAsUser": SERVICES_UID,
                                    "runAsGroup": SERVICES_UID,
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    socket_mount,
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "dind-socket", "emptyDir": {}},
                            {
                                "name": "docker-storage",
                                "emptyDir": {"sizeLimit": args.docker_storage_size},
                            },
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def _dind_security(mode: str) -> dict[str, Any]:
    """The daemon's rights and, where it must prepare its cgroups itself, its command."""
    if mode == "privileged":
        return {"securityContext": {"privileged": True}}
    return {
        "command": ["sh", "-ec", REMOUNT_CGROUPS, "dind"],
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": True,
            "capabilities": {"add": ["ALL"], "drop": ["SYS_RESOURCE"]},
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"},
        },
    }


def _dind(args: WorkerArgs, socket_mount: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "dind",
        "image": args.dind_image,
        "restartPolicy": "Always",
        # Naming `dockerd` first keeps the image's entrypoint from adding its default TCP
        # listener (2375, unauthenticated with TLS off), which any pod could reach. The
        # socket's group is the worker's, so the non-root worker may use it.
        "args": ["dockerd", f"--host={DOCKER_HOST}", f"--group={SERVICES_UID}"],
        # Empty: no TLS certificates to generate; only the shared unix socket is served.
        "env": [{"name": "DOCKER_TLS_CERTDIR", "value": ""}],
        **_dind_security(args.dind_security),
        "startupProbe": {
            "exec": {"command": ["docker", f"--host={DOCKER_HOST}", "info"]},
            "periodSeconds": 2,
            "failureThreshold": 90,
        },
        # The daemon runs the pod's jobs: its requests and limits are per slot.
        "resources": resource_block(args.dind_resources, times=args.slots),
        "volumeMounts": [
            socket_mount,
            {"name": "docker-storage", "mountPath": "/var/lib/docker"},
        ],
    }
