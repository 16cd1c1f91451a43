"""Run the real Pulumi program (`infra/__main__.py`) under mocks and collect what it renders.

Every Kubernetes resource the program declares is recorded in its wire form (camelCase, as
the provider would send it to the API server), with the name the provider would give it.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = REPO_ROOT / "infra" / "__main__.py"
SECRET_CONFIG = {
    "postgresPassword": "pg-Secret-7f3a91",
    "apiTokens": "alice:tok-Alice-5b2c,bob:tok-Bob-9e41",
    "webhookSecret": "hook-Secret-c0ffee",
}


@dataclass
class Rendered:
    objects: list[dict[str, Any]]
    built_images: list[dict[str, Any]]
    # "Kind/name" → the paths in that object that Pulumi holds as secrets (encrypted in state).
    secret_paths: dict[str, list[str]]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (obj,) = [o for o in self.of_kind(kind) if o["metadata"].get("name") == name]
        return obj


# How the wire format marks a Pulumi secret: {SECRET_SIG: SECRET_MARK, "value": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"


def _plain(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Unwrap secrets (noting where they were) and turn whole floats back into integers.

    The mock monitor hands integers over as floats; the API server would not accept 3.0.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARK:
            secret_paths.append(path)
            return _plain(value.get("value"), path, secret_paths)
        return {k: _plain(v, f"{path}.{k}", secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """`kubernetes:apps/v1:StatefulSet` → (`apps/v1`, `StatefulSet`); patches are their kind."""
    _, module, kind = type_token.split(":")
    group, version = module.split("/")
    api_version = version if group == "core" else f"{group}/{version}"
    return api_version, kind.removesuffix("Patch")


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []
        self.built_images: list[dict[str, Any]] = []
        self.secret_paths: dict[str, list[str]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        secret_paths: list[str] = []
        inputs = _plain(args.inputs, "", secret_paths)
        if args.typ.startswith("kubernetes:"):
            api_version, kind = api_version_and_kind(args.typ)
            obj = {"apiVersion": api_version, "kind": kind, **inputs}
            obj["apiVersion"], obj["kind"] = api_version, kind
            metadata = obj.setdefault("metadata", {})
            if "name" not in metadata:
                # The provider's auto-naming: the logical name plus a random suffix.
                suffix = hashlib.sha256(args.name.encode()).hexdigest()[:8]
                metadata["name"] = f"{args.name}-{suffix}"
            self.objects.append(obj)
            self.secret_paths[f"{kind}/{metadata['name']}"] = secret_paths
            return f"{args.name}-id", obj
        if args.typ.startswith("pulumi-python:dynamic:"):
            self.built_images.append({k: v for k, v in inputs.items() if not k.startswith("__")})
        return f"{args.name}-id", inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def render(config: dict[str, Any] | None = None, secrets: dict[str, str] | None = None) -> Rendered:
    """Run the program with `dccf:` stack config `config` (plus the secrets) and collect it."""
    mocks = RecordingMocks()
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project="dccf", stack="test", preview=False)
    secrets = SECRET_CONFIG if secrets is None else secrets
    values = {**(config or {}), **secrets}
    pulumi.runtime.set_all_config(
        {f"dccf:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()},
        [f"dccf:{k}" for k in secrets],
    )
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(MAIN), run_name="__main__")
        stack = pulumi.runtime.settings.get_root_resource()
        exported = stack.outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**exported).apply(outputs.update)

    program()
    return Rendered(
        objects=mocks.objects,
        built_images=mocks.built_images,
        secret_paths=mocks.secret_paths,
        outputs=outputs,
    )
