"""Bring the stack up in dependency order, show it, take it down.

Every step checks before it acts, so `up` on a running stack only confirms what runs. What the
stack started is known by its pidfiles in .dccf/run; an engine or server it did not start has
none and is never stopped.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from dataclasses import dataclass

from localstack import docker_engine, kafka_cluster, postgres, procs, services
from localstack.config import DOCKER_SOCKET, StackConfig
from localstack.kafka_cluster import Node
from localstack.layout import Layout
from localstack.report import StackError, say

COMPONENT = re.compile(r"postgres|dockerd|master|kafka-[1-9]\d*|worker-[1-9]\d*")
PG_TIMEOUT = 60
KAFKA_TIMEOUT = 120
DOCKER_TIMEOUT = 60
MASTER_TIMEOUT = 60
WORKER_SETTLE = 1.5


def stop_for(layout: Layout, name: str) -> procs.Stop:
    pidfile = layout.pidfile(name)
    if name == "postgres":
        # SIGTERM waits for every client to disconnect; SIGINT ("fast") ends their sessions.
        return procs.Stop(name, pidfile, signal.SIGINT, 30)
    if name.startswith("worker-"):
        # A worker finishes or hands back its current job on SIGTERM before it leaves.
        return procs.Stop(name, pidfile, signal.SIGTERM, 60)
    if name == "dockerd":
        # dockerd gives running containers 15 s to stop before it exits.
        return procs.Stop(name, pidfile, signal.SIGTERM, 40)
    return procs.Stop(name, pidfile, signal.SIGTERM, 30)


def live(layout: Layout, prefix: str = "") -> dict[str, int]:
    """Components started by the stack that still run, by name."""
    found: dict[str, int] = {}
    for pidfile in sorted(layout.run.glob(f"{prefix}*.pid")):
        pid = procs.read_pid(pidfile)
        if pid is not None:
            found[pidfile.stem] = pid
    return found


def _index(name: str) -> int:
    return int(name.rpartition("-")[2])


@dataclass
class Stack:
    layout: Layout
    config: StackConfig

    def up(self) -> None:
        started = time.monotonic()
        self._refuse_kafka_resize()
        self.config.save(self.layout.stack_file)
        self.postgres()
        self.kafka()
        self.docker()
        self.master()
        self.workers()
        say("stack", f"up; master at {self.config.url}", started)
        say("stack", f"dashboard: {self.config.url}/ (open it in a browser; `dccf ui` prints it)")

    def start(self, name: str) -> None:
        """Start one component of the saved stack and wait until it is ready."""
        if name == "postgres":
            self.postgres()
        elif name == "dockerd":
            self.docker()
        elif name == "master":
            self.master()
        elif name.startswith("kafka-"):
            node_id = _index(name)
            if node_id > self.config.kafka_nodes:
                raise StackError(name, f"the stack has {self.config.kafka_nodes} Kafka node(s)")
            self._kafka_nodes([self.config.kafka[node_id - 1]])
        else:
            self._start_workers([_index(name)])

    def postgres(self) -> None:
        started = time.monotonic()
        layout, config = self.layout, self.config
        if postgres.init(layout, config):
            data = layout.relative(postgres.data_dir(layout))
            say("postgres", f"created cluster in {data}", started)
        pid = procs.read_pid(layout.pidfile("postgres"))
        verb = "running"
        if pid is None:
            postgres.prepare(layout)
            pid = procs.start(postgres.spec(layout, config))
            verb = "started"
        error = procs.wait_until(
            lambda: postgres.accepts_connections(layout, config), pid, PG_TIMEOUT
        )
        if error:
            raise StackError("postgres", error, layout.log("postgres"))
        postgres.ensure_database(layout, config)
        say(
            "postgres",
            f"{verb} on 127.0.0.1:{config.pg_port} (pid {pid}), database {config.pg_database}",
            started,
        )

    def kafka(self) -> None:
        started = time.monotonic()
        cache = self.layout.cache
        if kafka_cluster.fetch_jars(cache, self.layout.log("kafka-jars")):
            jars = kafka_cluster.jars_dir(cache)
            say("kafka", f"downloaded Kafka {kafka_cluster.KAFKA_VERSION} to {jars}", started)
        all_nodes = self.config.kafka
        self._kafka_nodes(all_nodes)
        started = time.monotonic()
        factor, _ = kafka_cluster.replication(self.config.kafka_nodes)
        summary = kafka_cluster.ensure_topic(
            [node.address for node in all_nodes], self.config.topic, self.config.partitions, factor
        )
        say("kafka", summary, started)

    def _kafka_nodes(self, selected: list[Node]) -> None:
        """Start the selected nodes that are not running and wait until each is a live broker.

        All are started before waiting: a node of a three-node quorum cannot become ready
        alone.
        """
        started = time.monotonic()
        layout = self.layout
        cluster_id = self._cluster_id()
        jars = kafka_cluster.jars_dir(layout.cache)
        pids: dict[Node, tuple[int, str]] = {}
        for node in selected:
            pid = procs.read_pid(layout.pidfile(node.name))
            if pid is not None:
                pids[node] = (pid, "running")
                continue
            node_dir = layout.kafka_node(node.node_id)
            data = node_dir / "data"
            data.mkdir(parents=True, exist_ok=True)
            properties = node_dir / "server.properties"
            properties.write_text(kafka_cluster.render_properties(node, self.config.kafka, data))
            log = layout.log(node.name)
            log.parent.mkdir(parents=True, exist_ok=True)
            if kafka_cluster.format_storage(jars, properties, data, cluster_id, log):
                say(node.name, f"formatted {layout.relative(data)} for cluster {cluster_id}")
            spec = procs.Spec(
                name=node.name,
                argv=kafka_cluster.java_argv(jars, "kafka.Kafka", str(properties)),
                log=log,
                pidfile=layout.pidfile(node.name),
            )
            pids[node] = (procs.start(spec), "started")
        self._wait_for_brokers(pids)
        for node, (pid, verb) in pids.items():
            say(node.name, f"{verb} on {node.address} (pid {pid})", started)

    def _wait_for_brokers(self, pids: dict[Node, tuple[int, str]]) -> None:
        servers = [node.address for node in pids]
        wanted = {node.node_id for node in pids}
        deadline = time.monotonic() + KAFKA_TIMEOUT
        while not kafka_cluster.brokers_ready(servers, wanted):
            for node, (pid, _) in pids.items():
                if not procs.alive(pid):
                    raise StackError(node.name, "exited while starting", self.layout.log(node.name))
            if time.monotonic() > deadline:
                node = next(iter(pids))
                raise StackError(
                    node.name,
                    f"brokers {sorted(wanted)} not all registered after {KAFKA_TIMEOUT} s",
                    self.layout.log(node.name),
                )
            time.sleep(0.5)

    def _cluster_id(self) -> str:
        """One cluster id per Kafka data set, kept with it; a new node count means a new set."""
        meta = self.layout.kafka / "cluster.json"
        count = self.config.kafka_nodes
        if meta.exists():
            saved = json.loads(meta.read_text())
            if saved["nodes"] == count:
                return str(saved["cluster_id"])
            shutil.rmtree(self.layout.kafka)
            say(
                "kafka",
                f"--kafka-nodes changed from {saved['nodes']} to {count}: cleared the old Kafka "
                "data (jobs are kept in Postgres, which re-publishes queued ones)",
            )
        cluster_id = kafka_cluster.new_cluster_id()
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"cluster_id": cluster_id, "nodes": count}) + "\n")
        return cluster_id

    def _refuse_kafka_resize(self) -> None:
        running = live(self.layout, "kafka-")
        meta = self.layout.kafka / "cluster.json"
        if not running or not meta.exists():
            return
        nodes = json.loads(meta.read_text())["nodes"]
        if nodes != self.config.kafka_nodes:
            raise StackError(
                "kafka",
                f"Kafka runs with {nodes} node(s); run `scripts/dev down` before "
                f"`scripts/dev up --kafka-nodes {self.config.kafka_nodes}`",
            )

    def docker(self) -> None:
        started = time.monotonic()
        layout = self.layout
        pid = procs.read_pid(layout.pidfile("dockerd"))
        if pid is None and docker_engine.answers():
            say("docker", f"reusing the engine on {DOCKER_SOCKET} (down leaves it running)")
        else:
            verb = "running"
            if pid is None:
                pid = procs.start(docker_engine.spec(layout))
                verb = "started"
            error = procs.wait_until(docker_engine.answers, pid, DOCKER_TIMEOUT, interval=0.5)
            if error:
                raise StackError("dockerd", error, layout.log("dockerd"))
            root = layout.relative(layout.docker_root)
            say("dockerd", f"{verb} on {DOCKER_SOCKET} (pid {pid}), data in {root}", started)
        started = time.monotonic()
        say("docker", docker_engine.seed_base_image(layout), started)

    def master(self) -> None:
        started = time.monotonic()
        layout, config = self.layout, self.config
        pid = procs.read_pid(layout.pidfile("master"))
        verb = "running"
        if pid is None:
            pid = procs.start(services.master_spec(layout, config))
            verb = "started"
        error = procs.wait_until(
            lambda: services.master_ready(config), pid, MASTER_TIMEOUT, interval=0.5
        )
        if error:
            raise StackError(
                "master",
                f"{error}: GET {config.url}/readyz never answered 200",
                layout.log("master"),
            )
        say("master", f"{verb} on {config.url} (pid {pid})", started)

    def workers(self) -> None:
        extra = [
            name for name in live(self.layout, "worker-") if _index(name) > self.config.workers
        ]
        if extra:
            took = procs.stop([stop_for(self.layout, name) for name in extra])
            for name in extra:
                spent = f" ({took[name]:.1f} s)" if name in took else ""
                say(name, f"stopped: the stack now has {self.config.workers} workers{spent}")
        self._start_workers(list(range(1, self.config.workers + 1)))

    def _start_workers(self, indexes: list[int]) -> None:
        started = time.monotonic()
        layout = self.layout
        pids: dict[str, tuple[int, str]] = {}
        for index in indexes:
            name = services.worker_name(index)
            pid = procs.read_pid(layout.pidfile(name))
            if pid is None:
                pids[name] = (
                    procs.start(services.worker_spec(layout, self.config, index)),
                    "started",
                )
            else:
                pids[name] = (pid, "running")
        # A worker has no port to probe; one that cannot reach its services exits early.
        if any(verb == "started" for _, verb in pids.values()):
            time.sleep(WORKER_SETTLE)
        for name, (pid, verb) in pids.items():
            if not procs.alive(pid):
                raise StackError(name, "exited right after it started", layout.log(name))
            say(name, f"{verb} as {self.config.worker_id(name)} (pid {pid})", started)


def down(layout: Layout, quiet: bool = False) -> None:
    """Stop what the stack started, clients before the servers they use."""
    running = live(layout)
    if not running and not quiet:
        say("stack", "nothing was running")
    groups = [
        [n for n in running if n.startswith("worker-") or n == "master"],
        [n for n in running if n.startswith("kafka-")],
        [n for n in running if n == "postgres"],
        [n for n in running if n == "dockerd"],
    ]
    for group in filter(None, groups):
        took = procs.stop([stop_for(layout, name) for name in group])
        for name in group:
            spent = f" ({took[name]:.1f} s)" if name in took else ""
            say(name, f"stopped (pid {running[name]}){spent}")
    for pidfile in layout.run.glob("*.pid"):
        pidfile.unlink(missing_ok=True)
    if "dockerd" in running:
        # A stopped dockerd can leave its network namespace mounted in its exec-root, which
        # keeps `rm -rf` of a clone from working.
        docker_engine.unmount_below(str(layout.docker_exec_root))


def purge(layout: Layout, keep: tuple[str, ...] = ("venv",)) -> None:
    """Delete the stack's state but the folders in `keep`; the download cache stays."""
    docker_engine.unmount_below(str(layout.state))
    pg_home = postgres.home(layout)
    if pg_home != layout.state:
        shutil.rmtree(pg_home, ignore_errors=True)
    if not layout.state.exists():
        return
    for path in sorted(layout.state.iterdir()):
        if path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    kept = ", ".join(f"{name}/" for name in keep)
    say("stack", f"deleted the state in {layout.relative(layout.state)} (kept {kept})")


def stop_one(layout: Layout, name: str) -> None:
    started = time.monotonic()
    pid = procs.read_pid(layout.pidfile(name))
    if pid is None:
        say(name, "not running")
        return
    procs.stop([stop_for(layout, name)])
    say(name, f"stopped (pid {pid})", started)


def expected(config: StackConfig) -> dict[str, str]:
    """The components of a stack of this config, with the address each serves."""
    components = {"postgres": f"127.0.0.1:{config.pg_port}"}
    components |= {n.name: n.address for n in config.kafka}
    components["master"] = config.url
    components |= {services.worker_name(i): "" for i in range(1, config.workers + 1)}
    return components


def status(layout: Layout, config: StackConfig | None) -> bool:
    """Print one line per component; True when every component of the stack runs."""
    running = live(layout)
    wanted = {**expected(config), "dockerd": ""} if config else {}
    components = {**wanted, **{name: "" for name in running if name not in wanted}}
    if not components:
        print("no stack here: run scripts/dev up")
        return False
    components["dockerd"] = f"unix://{DOCKER_SOCKET}"
    rows = [("COMPONENT", "STATE", "PID", "ADDRESS")]
    healthy = bool(wanted)
    for name, address in components.items():
        pid = running.get(name)
        state = "running" if pid else "stopped"
        if name == "dockerd" and pid is None:
            state = "external" if docker_engine.answers() else "stopped"
        elif name == "master" and pid and config and not services.master_ready(config):
            state = "not ready"
        if name in wanted and state not in {"running", "external"}:
            healthy = False
        rows.append((name, state, str(pid or "-"), address))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return healthy
