"""Build the cluster's tools from the Go module proxy once, and keep them in the cache.

Each tool is a small wrapper module under gomodules/ whose go.mod pins the version and whose
go.sum records every checksum; builds run with `-mod=readonly`, so nothing unrecorded gets in.
A build lands in a folder named by a hash of its inputs: a changed pin builds anew, an
unchanged one is reused at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from localstack.report import StackError, say

from localcluster import config
from localcluster.layout import ClusterLayout

TOOLS_DIR = Path(__file__).resolve().parent / "gomodules"
K8S_VERSION_FLAGS = " ".join(
    f"-X {package}.{name}={value}"
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    for name, value in (
        ("gitVersion", config.K8S_VERSION),
        ("gitMajor", config.K8S_VERSION.lstrip("v").split(".")[0]),
        ("gitMinor", config.K8S_VERSION.split(".")[1]),
        ("gitTreeState", "clean"),
    )
)
PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"


@dataclass(frozen=True)
class Tool:
    """A wrapper module and what it builds: Go packages, or "." for its own main.go."""

    module: str
    binaries: tuple[str, ...]
    packages: tuple[str, ...]
    ldflags: str = ""
    # The provider's main embeds schema files that its module zip lacks; they are written
    # from the module's own schema.json before the build.
    embeds_provider_schema: bool = False


K8S_CMDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
    "kube-proxy",
)
TOOLS = (
    Tool("etcd", ("etcd",), (".",)),
    Tool(
        "kubernetes",
        K8S_CMDS,
        tuple(f"k8s.io/kubernetes/cmd/{cmd}" for cmd in K8S_CMDS),
        K8S_VERSION_FLAGS,
    ),
    Tool("coredns", ("coredns",), ("github.com/coredns/coredns",)),
    Tool(
        "pulumi",
        ("pulumi",),
        ("github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",),
        f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={config.PULUMI_VERSION}",
    ),
    Tool(
        "pulumi-kubernetes",
        ("pulumi-resource-kubernetes",),
        (".",),
        f"-X {PROVIDER_MODULE}/pkg/version.Version={config.PROVIDER_VERSION}",
        embeds_provider_schema=True,
    ),
)


def go_binary() -> str:
    found = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).exists()), None
    )
    if found is None:
        raise StackError(
            "tools",
            "the Go toolchain is missing: install Go 1.26 or newer (https://go.dev/dl) and put "
            "`go` on PATH; the cluster's tools are built from the Go module proxy",
        )
    return found


def _go_env(go: str) -> dict[str, str]:
    return {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        # A newer toolchain named by a module is an error, never a download.
        "GOTOOLCHAIN": "local",
        "PATH": f"{Path(go).parent}:{os.environ.get('PATH', '')}",
    }


def _stamp(tool: Tool, go_version: str) -> str:
    digest = hashlib.sha256()
    for file in sorted((TOOLS_DIR / tool.module).iterdir()):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    digest.update(f"{tool.ldflags}\0{tool.packages}\0{go_version}".encode())
    return digest.hexdigest()[:12]


def _build_dir(layout: ClusterLayout, tool: Tool, go_version: str) -> Path:
    return layout.tools_cache / f"{tool.module}-{_stamp(tool, go_version)}"


def _run(argv: list[str], cwd: Path, env: dict[str, str], log: Path, what: str) -> str:
    with log.open("ab") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n".encode())
        out.flush()
        done = subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
        out.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise StackError("tools", f"{what} failed", log)
    return done.stdout.decode()


def _write_provider_schema(work: Path, env: dict[str, str], go: str, log: Path) -> None:
    module_dir = Path(
        _run(
            [go, "list", "-m", "-f", "{{.Dir}}", PROVIDER_MODULE],
            work,
            env,
            log,
            "locating the provider module",
        ).strip()
    )
    source = module_dir / "cmd" / "pulumi-resource-kubernetes"
    schema = json.loads((source / "schema.json").read_text())
    schema["version"] = config.PROVIDER_VERSION
    mapping = json.loads((source / "terraform-mapping.json").read_text())
    (work / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
    (work / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))


def _build(layout: ClusterLayout, tool: Tool, target: Path, go: str, log: Path) -> None:
    env = _go_env(go)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    work = partial / "src"
    shutil.copytree(TOOLS_DIR / tool.module, work)
    _run([go, "mod", "download"], work, env, log, f"downloading the modules of {tool.module}")
    if tool.embeds_provider_schema:
        _write_provider_schema(work, env, go, log)
    out = partial / "bin"
    out.mkdir()
    # Built at the lowest priority: other test tiers may share the machine's two cores.
    argv = ["nice", "-n", "19", go, "build", "-trimpath", "-ldflags", f"-s -w {tool.ldflags}"]
    _run([*argv, "-o", f"{out}/", *tool.packages], work, env, log, f"building {tool.module}")
    if tool.packages == (".",) and tool.module != tool.binaries[0]:
        # A main package is named after its module's last element.
        (out / tool.module).rename(out / tool.binaries[0])
    missing = [name for name in tool.binaries if not (out / name).exists()]
    if missing:
        raise StackError("tools", f"building {tool.module} made no {', '.join(missing)}", log)
    shutil.rmtree(work)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def ensure(layout: ClusterLayout) -> dict[str, Path]:
    """Every tool's binaries by name, building those not in the cache yet."""
    go = go_binary()
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    layout.tools_cache.mkdir(parents=True, exist_ok=True)
    # With the cache, not the cluster's state: `down --purge` must not pull it from a build.
    log = layout.tools_cache / "build.log"
    found: dict[str, Path] = {}
    for tool in TOOLS:
        target = _build_dir(layout, tool, go_version)
        if not all((target / "bin" / name).exists() for name in tool.binaries):
            started = time.monotonic()
            say("tools", f"building {tool.module} with {go_version} (minutes when cold)")
            _build(layout, tool, target, go, log)
            say("tools", f"built {', '.join(tool.binaries)} into {target}", started)
        found |= {name: target / "bin" / name for name in tool.binaries}
    return found


if __name__ == "__main__":
    # `scripts/dev test` builds the tools in the background while the local tiers run.
    try:
        built = ensure(ClusterLayout.discover())
    except StackError as error:
        sys.exit(f"building the cluster's tools failed: {error.message}")
    print(f"[dev] tools: {len(built)} binaries ready", flush=True)
