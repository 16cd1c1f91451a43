"""A real node: Debian's containerd and runc with a kubelet, each node with its own of both.

containerd 1.6 always puts its shims' sockets under /run/containerd, and network namespaces
under /run/netns, where another containerd (dockerd's) may live: each node's containerd
starts in a mount namespace of its own with fresh tmpfs mounts there, and its kubelet joins
that namespace, so both see the same pod mounts and nothing leaks to the host's mount table.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

from localstack.procs import Spec
from localstack.report import StackError

from localcluster import config
from localcluster.config import Node
from localcluster.layout import ClusterLayout

CNI_BIN_DIR = "/usr/lib/cni"
RUNC = "/usr/sbin/runc"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def sandbox_image() -> str:
    return f"docker.io/{config.PAUSE_IMAGE}"


def containerd_config(layout: ClusterLayout, node: Node) -> str:
    base = layout.node_dir(node)
    socket = layout.containerd_socket(node)
    return f"""\
version = 2
root = "{base / "containerd" / "root"}"
state = "{base / "containerd" / "state"}"

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image()}"
  # The host withholds CAP_SYS_RESOURCE, so runc cannot lower a process's oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "{node.stream_port}"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{base / "runc"}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{base / "cni" / "net.d"}"
"""


def cni_config(layout: ClusterLayout, node: Node) -> str:
    bridge = {
        "type": "bridge",
        "bridge": node.bridge,
        "isGateway": True,
        # No masquerading: pod traffic never leaves the machine.
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": node.subnet, "gateway": node.ip}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(layout.node_dir(node) / "cni" / "ipam"),
        },
    }
    conflist = {"cniVersion": "0.4.0", "name": node.name, "plugins": [bridge]}
    return json.dumps(conflist, indent=2) + "\n"


def cgroup_name(node: Node) -> str:
    return f"/{node.name}"


def kubelet_config(layout: ClusterLayout, node: Node) -> str:
    base = layout.node_dir(node)
    pki = layout.pki
    return f"""\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {node.ip}
port: {node.kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {node.kubelet_healthz_port}
tlsCertFile: {pki / f"{node.name}-serving.crt"}
tlsPrivateKeyFile: {pki / f"{node.name}-serving.key"}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {pki / "ca.crt"}}}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{layout.containerd_socket(node)}
cgroupDriver: cgroupfs
cgroupRoot: {cgroup_name(node)}
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
clusterDomain: {config.CLUSTER_DOMAIN}
clusterDNS: [{node.ip}]
resolvConf: {base / "resolv.conf"}
podLogsDir: {base / "pod-logs"}
maxPods: 50
serializeImagePulls: false
# The images cannot be pulled again here: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
"""


def _cgroup_hierarchies() -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return [
        path
        for path in sorted(CGROUP_ROOT.iterdir())
        if path.is_dir() and not path.is_symlink() and (path / "cgroup.procs").exists()
    ]


def ensure_cgroups(node: Node) -> None:
    """The kubelet wants its cgroupRoot to exist in every hierarchy."""
    for hierarchy in _cgroup_hierarchies():
        path = hierarchy / node.name
        path.mkdir(exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):
            own, parent = path / key, hierarchy / key
            if own.exists() and not own.read_text().strip():
                own.write_text(parent.read_text())


def prepare(layout: ClusterLayout, node: Node) -> None:
    base = layout.node_dir(node)
    for sub in ("containerd", "runc", "cni/net.d", "cni/ipam", "kubelet", "pod-logs"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "containerd.toml").write_text(containerd_config(layout, node))
    (base / "cni" / "net.d" / "10-dccf.conflist").write_text(cni_config(layout, node))
    (base / "kubelet.yaml").write_text(kubelet_config(layout, node))
    (base / "resolv.conf").write_text(f"nameserver {node.ip}\n")
    ensure_cgroups(node)


def containerd_spec(layout: ClusterLayout, node: Node) -> Spec:
    script = (
        "for dir in /run/containerd /run/netns; do mkdir -p $dir; "
        "mount -t tmpfs -o mode=0755 tmpfs $dir; done; "
        'exec containerd --config "$1"'
    )
    name = f"{node.name}-containerd"
    return Spec(
        name=name,
        argv=[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-ec",
            script,
            "containerd",
            str(layout.node_dir(node) / "containerd.toml"),
        ],
        log=layout.log(name),
        pidfile=layout.pidfile(name),
    )


def kubelet_spec(layout: ClusterLayout, node: Node, kubelet: Path, containerd_pid: int) -> Spec:
    base = layout.node_dir(node)
    name = f"{node.name}-kubelet"
    return Spec(
        name=name,
        argv=[
            "nsenter",
            f"--mount=/proc/{containerd_pid}/ns/mnt",
            "--",
            str(kubelet),
            f"--config={base / 'kubelet.yaml'}",
            f"--kubeconfig={layout.pki / f'{node.name}.kubeconfig'}",
            f"--root-dir={base / 'kubelet'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            "--v=0",
        ],
        log=layout.log(name),
        pidfile=layout.pidfile(name),
    )


def import_image(layout: ClusterLayout, node: Node, archive: Path) -> None:
    """Load a `docker save` archive into the node's containerd, where the kubelet finds it."""
    done = subprocess.run(
        [
            "ctr",
            "--address",
            str(layout.containerd_socket(node)),
            "-n",
            "k8s.io",
            "images",
            "import",
            str(archive),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(node.name, f"importing {archive.name} failed: {done.stderr.strip()}")


def _pids_in(node: Node) -> set[int]:
    pids: set[int] = set()
    for hierarchy in _cgroup_hierarchies():
        root = hierarchy / node.name
        if root.exists():
            for procs in root.rglob("cgroup.procs"):
                pids |= {int(p) for p in procs.read_text().split()}
    return pids


def _shims_of(layout: ClusterLayout, node: Node) -> set[int]:
    socket = str(layout.containerd_socket(node))
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and socket.encode() in argv:
            found.add(int(entry.name))
    return found


def kill_leftovers(layout: ClusterLayout, node: Node) -> int:
    """SIGKILL the node's pods and shims, which outlive a stopped kubelet and containerd."""
    victims = _pids_in(node) | _shims_of(layout, node)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def remove_cgroups(node: Node) -> None:
    for hierarchy in _cgroup_hierarchies():
        root = hierarchy / node.name
        if not root.exists():
            continue
        for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=_depth, reverse=True):
            _rmdir(path)
        _rmdir(root)


def _depth(path: Path) -> int:
    return len(path.parts)


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):  # still busy: it goes with the next `down`
        path.rmdir()
