"""`pulumi up` and `pulumi destroy` of the infra program on the local cluster.

The real engine and the real pulumi-kubernetes provider run; only the Python language host,
which the Go module proxy does not serve, is replaced by the Automation API: an inline program
that runs the same `infra/__main__.py` that `pulumi up` runs for users.
"""

from __future__ import annotations

import json
import os
import runpy
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from localstack.report import StackError
from pulumi import automation as auto

from localcluster import config
from localcluster.layout import ClusterLayout

PLUGINS = Path(__file__).resolve().parent / "plugins"
# How long the provider waits for Kafka, Postgres and the topic Job here before it fails.
READY_TIMEOUT_SECONDS = 420


def _secrets(layout: ClusterLayout) -> dict[str, str]:
    """The stack's password and API token, made once and kept with the cluster's state."""
    path = layout.secrets_file
    if path.exists():
        saved: dict[str, str] = json.loads(path.read_text())
        return saved
    values = {"postgresPassword": secrets.token_hex(16), "token": secrets.token_hex(16)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values) + "\n")
    path.chmod(0o600)
    return values


def token(layout: ClusterLayout) -> str:
    return _secrets(layout)["token"]


def stack_config(layout: ClusterLayout) -> dict[str, auto.ConfigValue]:
    saved = _secrets(layout)
    plain = {
        "namespace": config.NAMESPACE,
        "nodeLabels": json.dumps(config.NODE_LABELS),
        # No load balancer here: the tests reach the master's ClusterIP through kube-proxy.
        "serviceType": "ClusterIP",
        "kafkaImage": config.KAFKA_IMAGE,
        "postgresImage": config.POSTGRES_IMAGE,
        "dindImage": config.DIND_IMAGE,
        # Privileged containers fail on hosts that withhold CAP_SYS_RESOURCE, as these do.
        "dindSecurity": "capabilities",
        "imageLoadCommand": json.dumps(
            [str(layout.repo / "scripts" / "dev"), "cluster", "load-image"]
        ),
        "readyTimeoutSeconds": str(READY_TIMEOUT_SECONDS),
    }
    values = {f"dccf:{key}": auto.ConfigValue(value) for key, value in plain.items()}
    values["dccf:postgresPassword"] = auto.ConfigValue(saved["postgresPassword"], secret=True)
    values["dccf:apiTokens"] = auto.ConfigValue(f"cluster-tests:{saved['token']}", secret=True)
    return values


def _program(source: Path) -> Callable[[], None]:
    infra = source / "infra"

    def program() -> None:
        # As `pulumi up` with `main: infra/` does: infra/ first on the path.
        if str(infra) not in sys.path:
            sys.path.insert(0, str(infra))
        runpy.run_path(str(infra / "__main__.py"), run_name="__main__")

    return program


def _pulumi_env(layout: ClusterLayout, binaries: dict[str, Path]) -> dict[str, str]:
    path = os.pathsep.join([str(PLUGINS), str(binaries["pulumi"].parent), os.environ["PATH"]])
    return {
        "PATH": path,
        "KUBECONFIG": str(layout.admin_kubeconfig),
        # The stack's secrets are in the cluster's state dir; the passphrase guards nothing
        # beyond this machine.
        "PULUMI_CONFIG_PASSPHRASE": "dccf-local-cluster",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "PULUMI_RUNTIME_VIRTUALENV": sys.prefix,
    }


def install_provider(layout: ClusterLayout, binaries: dict[str, Path]) -> None:
    """Install the built provider as the plugin the pinned SDK asks for, once per build."""
    env = {**os.environ, **_pulumi_env(layout, binaries), "PULUMI_HOME": str(layout.pulumi_home)}
    marker = (
        layout.pulumi_home
        / f"installed-{binaries['pulumi-resource-kubernetes'].parent.parent.name}"
    )
    if marker.exists():
        return
    done = subprocess.run(
        [
            str(binaries["pulumi"]),
            "plugin",
            "install",
            "resource",
            "kubernetes",
            config.PROVIDER_VERSION,
            "--file",
            str(binaries["pulumi-resource-kubernetes"]),
            "--reinstall",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError("pulumi", f"installing the kubernetes plugin failed: {done.stderr}")
    marker.touch()


def stack(layout: ClusterLayout, binaries: dict[str, Path], source: Path) -> auto.Stack:
    layout.pulumi_state.mkdir(parents=True, exist_ok=True)
    work = layout.root / "pulumi-work"
    work.mkdir(parents=True, exist_ok=True)
    install_provider(layout, binaries)
    command = auto.PulumiCommand(root=str(binaries["pulumi"].parent.parent))
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_home=str(layout.pulumi_home),
        pulumi_command=command,
        env_vars=_pulumi_env(layout, binaries),
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(
            name=config.PROJECT,
            runtime="python",
            backend=auto.ProjectBackend(url=f"file://{layout.pulumi_state}"),
        ),
    )
    # The program's own settings (DCCF_EXTRA_CA_CERT_FILE) are read in this process.
    os.environ.update(_pulumi_env(layout, binaries))
    selected = auto.create_or_select_stack(
        stack_name=config.STACK,
        project_name=config.PROJECT,
        program=_program(source),
        opts=options,
    )
    selected.set_all_config(stack_config(layout))
    return selected


def up(layout: ClusterLayout, binaries: dict[str, Path], source: Path) -> dict[str, int]:
    """`pulumi up`; returns the engine's count of resources by change (create, same...)."""
    try:
        result = stack(layout, binaries, source).up(on_output=print, color="never")
    except auto.CommandError as error:
        raise StackError("pulumi", f"pulumi up failed (its output is above): {error}") from None
    return _counts(result.summary.resource_changes)


def destroy(layout: ClusterLayout, binaries: dict[str, Path]) -> dict[str, int]:
    try:
        result = stack(layout, binaries, layout.repo).destroy(on_output=print, color="never")
    except auto.CommandError as error:
        raise StackError("pulumi", f"pulumi destroy failed: {error}") from None
    return _counts(result.summary.resource_changes)


def _counts(changes: Mapping[auto.OpType, int] | None) -> dict[str, int]:
    """The engine's resource counts by change. Its JSON keys ("create", "same"...) arrive as
    plain strings though typed OpType, whose str() would read "OpType.CREATE"."""
    return {
        op.value if isinstance(op, auto.OpType) else op: count
        for op, count in (changes or {}).items()
    }


def outputs(layout: ClusterLayout, binaries: dict[str, Path]) -> dict[str, str]:
    found = stack(layout, binaries, layout.repo).outputs()
    return {key: str(value.value) for key, value in found.items()}
