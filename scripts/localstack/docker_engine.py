"""The Docker engine the workers run jobs on, seeded with the project's one base image.

An engine already answering on the default socket is reused and never stopped by `down`.
Otherwise the stack runs its own dockerd with its data under .dccf/docker, on the default
socket so that the `docker` CLI works as usual.

No registry is reachable from CI, so `debian:bookworm-slim` is built from Debian's packages
once (debootstrap), saved to the cache, and loaded from there into any new engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from localstack.config import DOCKER_HOST
from localstack.layout import Layout
from localstack.procs import Spec
from localstack.report import StackError

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DOCKERD = "/usr/sbin/dockerd"


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["docker", "--host", DOCKER_HOST, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _docker("info", "--format", "{{.ServerVersion}}", timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def spec(layout: Layout) -> Spec:
    if not Path(DOCKERD).exists():
        raise StackError("dockerd", f"{DOCKERD} is missing: apt-get install -y docker.io")
    if os.geteuid() != 0:
        raise StackError(
            "dockerd",
            "no Docker engine answers on /var/run/docker.sock and only root can start one: "
            "start dockerd (or run scripts/dev as root)",
        )
    layout.docker_root.mkdir(parents=True, exist_ok=True)
    return Spec(
        name="dockerd",
        argv=[
            DOCKERD,
            "--data-root",
            str(layout.docker_root),
            # Its own runtime state too: a dockerd killed earlier leaves pidfiles in the default
            # /var/run/docker whose PIDs may since belong to other processes.
            "--exec-root",
            str(layout.docker_exec_root),
            # dockerd refuses to start when its pidfile names a live process, so it must not be
            # the file scripts/dev writes for it.
            "--pidfile",
            str(layout.run / "dockerd.pidfile"),
        ],
        log=layout.log("dockerd"),
        pidfile=layout.pidfile("dockerd"),
    )


def image_present() -> bool:
    return _docker("image", "inspect", BASE_IMAGE, timeout=30).returncode == 0


def seed_base_image(layout: Layout) -> str:
    """Make sure the engine has the base image and the cache has its tar; says what it did."""
    tar = layout.base_image_tar
    if image_present():
        if tar.exists():
            return f"{BASE_IMAGE} present"
        _save(tar)
        return f"{BASE_IMAGE} present; saved to {tar}"
    if tar.exists():
        result = _docker("load", "--input", str(tar))
        if result.returncode != 0:
            raise StackError(
                "docker",
                f"docker load of {tar} failed: {result.stderr.decode().strip()}; "
                "delete the file to rebuild it",
            )
        return f"{BASE_IMAGE} loaded from {tar}"
    _build(layout)
    _save(tar)
    return f"{BASE_IMAGE} built with debootstrap; saved to {tar}"


def _save(tar: Path) -> None:
    tar.parent.mkdir(parents=True, exist_ok=True)
    partial = tar.with_name(tar.name + ".partial")
    result = _docker("save", "--output", str(partial), BASE_IMAGE)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise StackError("docker", f"docker save failed: {result.stderr.decode().strip()}")
    partial.replace(tar)


def _build(layout: Layout) -> None:
    if shutil.which("debootstrap") is None:
        raise StackError("docker", "debootstrap is missing: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise StackError(
            "docker", f"building {BASE_IMAGE} with debootstrap needs root: run scripts/dev as root"
        )
    log = layout.log("base-image")
    log.parent.mkdir(parents=True, exist_ok=True)
    layout.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.tmp, prefix="rootfs-") as rootfs:
        try:
            _bootstrap_and_import(rootfs, log)
        finally:
            unmount_below(rootfs)


def unmount_below(root: str) -> None:
    """A failed debootstrap can leave /proc or /sys mounted inside its rootfs, a killed dockerd
    its network namespaces in its exec-root: deleting those folders must not walk into them."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=False)


def _bootstrap_and_import(rootfs: str, log: Path) -> None:
    with log.open("ab") as out:
        bootstrap = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        if bootstrap.returncode != 0:
            raise StackError("docker", "debootstrap of bookworm failed", log)
        with subprocess.Popen(
            ["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE, stderr=out
        ) as tar:
            imported = subprocess.run(
                ["docker", "--host", DOCKER_HOST, "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    if tar.returncode != 0 or imported.returncode != 0:
        raise StackError("docker", f"docker import of {BASE_IMAGE} failed", log)
