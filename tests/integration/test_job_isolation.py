"""A job's isolation, end to end: submitted over HTTP, run by the worker on the real engine.

tests/integration/test_runner.py drives the runner directly (network none shows only `lo`,
pids limit, OOM, a 1 GiB output). These go through the API and the worker, so they also catch
a limit lost on its way from the request to the container, and they test effects rather than
configuration: a connection the job tries to open, the cgroup limits it runs under, what it may
do as root inside.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import uuid
from collections.abc import Iterator

import docker
import pytest
from starlette.testclient import TestClient

from dccf import db
from dccf.settings import Settings
from services.master.app import create_app
from services.worker.worker import Worker

pytestmark = pytest.mark.integration

PIDS = 48
DOCKERFILE = b'FROM debian:bookworm-slim\nCOPY run.sh /run.sh\nCMD ["bash", "/run.sh"]\n'

CGROUP_SCRIPT = b"""
for f in memory/memory.limit_in_bytes memory.max memory/memory.memsw.limit_in_bytes \\
         memory.swap.max cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu.max pids/pids.max pids.max
do
  if [ -r "/sys/fs/cgroup/$f" ]; then echo "$f=$(cat "/sys/fs/cgroup/$f")"; fi
done
"""
PRIVILEGE_SCRIPT = b"""
grep '^CapEff:' /proc/self/status
if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=allowed; else echo mount=refused; fi
if [ -e /var/run/docker.sock ]; then echo docker-socket=present; else echo docker-socket=absent; fi
"""
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


class Listener:
    """A TCP listener on the host's Docker bridge gateway that records what jobs send it."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        try:
            self.sock.bind((host, 0))
        except OSError as exc:
            pytest.fail(
                f"cannot listen on the Docker bridge gateway {host} ({exc}); these tests need "
                "the Docker engine on this machine (DCCF_DOCKER_HOST unset or a local socket)"
            )
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while chunk := conn.recv(4096):
                        data += chunk
                except TimeoutError:
                    pass
                self.received.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def bridge_gateway(client: docker.DockerClient) -> str:
    """The host's address on the default bridge; the default bridge often omits it from IPAM,
    and then it is the subnet's first address (docker0)."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return str(config.get("Gateway") or next(ipaddress.ip_network(config["Subnet"]).hosts()))


def reach_script(listener: Listener, marker: str) -> bytes:
    return (f"echo {marker} > /dev/tcp/{listener.host}/{listener.port} && echo reached\n").encode()


@dataclasses.dataclass(frozen=True)
class Ran:
    jobs: dict[str, dict[str, object]]
    stdout: dict[str, str]
    stderr: dict[str, str]
    markers: dict[str, str]
    received: list[bytes]


@pytest.fixture(scope="module")
def ran(cfg: Settings, pool: db.Pool, docker_client: docker.DockerClient) -> Iterator[Ran]:
    """Submit every job of this module over HTTP, let one worker run them all."""
    job_cfg = dataclasses.replace(
        cfg, limits=dataclasses.replace(cfg.limits, allow_bridge_network=True, pids=PIDS)
    )
    listener = Listener(bridge_gateway(docker_client))
    markers = {name: f"{name}-{uuid.uuid4().hex}" for name in ("none", "bridge")}
    jobs = {
        "none": (reach_script(listener, markers["none"]), {"network": "none"}),
        "bridge": (reach_script(listener, markers["bridge"]), {"network": "bridge"}),
        "cgroup": (CGROUP_SCRIPT, {"memory_mb": "96", "cpus": "0.5"}),
        "privilege": (PRIVILEGE_SCRIPT, {}),
    }
    try:
        with TestClient(create_app(job_cfg)) as api:
            ids = {}
            for name, (script, fields) in jobs.items():
                response = api.post(
                    "/v1/jobs",
                    files=[
                        ("dockerfile", ("Dockerfile", DOCKERFILE)),
                        ("files", ("run.sh", script)),
                    ],
                    data={"name": name, "timeout_seconds": "60", **fields},
                )
                assert response.status_code == 201, response.text
                ids[name] = response.json()["id"]
            ran_count = Worker(job_cfg, pool, docker_client).run(
                max_jobs=len(jobs), idle_timeout=60
            )
            assert ran_count == len(jobs)
            yield Ran(
                jobs={n: api.get(f"/v1/jobs/{i}").json() for n, i in ids.items()},
                stdout={
                    n: api.get(f"/v1/jobs/{i}/logs?stream=stdout").text for n, i in ids.items()
                },
                stderr={
                    n: api.get(f"/v1/jobs/{i}/logs?stream=stderr").text for n, i in ids.items()
                },
                markers=markers,
                received=listener.received,
            )
    finally:
        listener.close()


def test_network_none_cannot_reach_a_host_port_that_bridge_reaches(ran: Ran) -> None:
    bridge, none = ran.jobs["bridge"], ran.jobs["none"]
    # The control: on the bridge network the same script reaches the listener.
    assert (bridge["status"], bridge["limits"]["network"]) == ("succeeded", "bridge"), ran.stderr
    assert ran.stdout["bridge"] == "reached\n"
    assert ran.markers["bridge"].encode() + b"\n" in ran.received
    # Without a network the connection cannot even be attempted.
    assert (none["status"], none["reason"], none["limits"]["network"]) == (
        "failed",
        "nonzero_exit",
        "none",
    )
    assert "Network is unreachable" in ran.stderr["none"]
    assert not any(ran.markers["none"].encode() in data for data in ran.received)


def _cgroup_values(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def test_the_jobs_limits_are_its_cgroup_limits(ran: Ran) -> None:
    assert ran.jobs["cgroup"]["status"] == "succeeded", ran.stderr["cgroup"]
    values = _cgroup_values(ran.stdout["cgroup"])
    memory = 96 * 1024 * 1024
    if "memory.max" in values:  # cgroup v2
        assert int(values["memory.max"]) == memory
        assert values["memory.swap.max"] == "0"
        quota, period = values["cpu.max"].split()
        assert values["pids.max"] == str(PIDS)
    else:
        assert int(values["memory/memory.limit_in_bytes"]) == memory
        # memory+swap equal to memory: the job cannot page out past its limit.
        if "memory/memory.memsw.limit_in_bytes" in values:
            assert int(values["memory/memory.memsw.limit_in_bytes"]) == memory
        quota, period = values["cpu/cpu.cfs_quota_us"], values["cpu/cpu.cfs_period_us"]
        assert values["pids/pids.max"] == str(PIDS)
    assert int(quota) / int(period) == 0.5


def test_the_job_is_root_without_the_hosts_powers(ran: Ran) -> None:
    assert ran.jobs["privilege"]["status"] == "succeeded", ran.stderr["privilege"]
    values = _cgroup_values(ran.stdout["privilege"].replace("CapEff:\t", "CapEff="))
    capabilities = int(values["CapEff"], 16)
    assert not capabilities & (1 << CAP_SYS_ADMIN), "the job has CAP_SYS_ADMIN"
    assert not capabilities & (1 << CAP_NET_ADMIN), "the job has CAP_NET_ADMIN"
    assert values["mount"] == "refused"
    assert values["docker-socket"] == "absent"
