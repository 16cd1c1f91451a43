"""A KRaft Kafka of 1 or 3 combined broker+controller nodes, run from Maven Central's jars.

Node i (1-based) serves clients on 127.0.0.1:FIRST+2(i-1) and the quorum on the next port;
with the default first port: 19092/19093, 19094/19095, 19096/19097. Storage is formatted once
per node, when its data dir has no meta.properties; a node is never re-formatted (the original
lost its log that way).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localstack.layout import TEMPLATES
from localstack.report import StackError

KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.26.1"
# kafka-clients still declares slf4j 1.7; log4j's slf4j2 binding needs the 2.x API.
SLF4J_VERSION = "2.0.17"
FIRST_PORT = 19092
# Small heap; on a two-core machine the serial collector and the C1 compiler alone start a
# node seconds sooner and leave the cores to the other components.
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
ALLOWED_NODES = (1, 3)
TOPIC_METADATA_SECONDS = 10


@dataclass(frozen=True)
class Node:
    node_id: int
    broker_port: int
    controller_port: int

    @property
    def name(self) -> str:
        return f"kafka-{self.node_id}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.broker_port}"


def nodes(count: int, first_port: int = FIRST_PORT) -> list[Node]:
    if count not in ALLOWED_NODES:
        raise ValueError(f"--kafka-nodes must be one of {ALLOWED_NODES}, not {count}")
    return [
        Node(i, first_port + 2 * (i - 1), first_port + 2 * (i - 1) + 1) for i in range(1, count + 1)
    ]


def bootstrap(count: int, first_port: int = FIRST_PORT) -> str:
    return ",".join(node.address for node in nodes(count, first_port))


def replication(count: int) -> tuple[int, int]:
    """Replication factor and min.insync.replicas: one broker may be down without stopping
    producers that ask for acks from all in-sync replicas."""
    factor = min(3, count)
    return factor, max(1, factor - 1)


def render_properties(node: Node, quorum: list[Node], data_dir: Path) -> str:
    count = len(quorum)
    factor, min_isr = replication(count)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in quorum)
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": data_dir,
        "num.partitions": 1,
        "default.replication.factor": factor,
        "min.insync.replicas": min_isr,
        # 50 partitions (the default) slow the first consumer-group join on two cores.
        "offsets.topic.num.partitions": 10,
        "offsets.topic.replication.factor": factor,
        "transaction.state.log.replication.factor": factor,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": factor,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
        # The topic is created on purpose, with its partitions and replication; a typo must fail.
        "auto.create.topics.enable": "false",
        "num.network.threads": 2,
        "num.io.threads": 4,
    }
    lines = [f"# node {node.node_id} of {count}; written by scripts/dev, overwritten on start"]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A Kafka `Uuid` string: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids these: they read as a command-line flag
            return text


def render_pom() -> str:
    template = string.Template((TEMPLATES / "kafka-pom.xml").read_text())
    return template.substitute(
        kafka_version=KAFKA_VERSION, log4j_version=LOG4J_VERSION, slf4j_version=SLF4J_VERSION
    )


def jars_dir(cache: Path) -> Path:
    return cache / f"kafka-{KAFKA_VERSION}-log4j-{LOG4J_VERSION}"


def fetch_jars(cache: Path, log: Path) -> bool:
    """Download Kafka and its logging into the cache; False when they were already there."""
    target = jars_dir(cache)
    if (target / ".complete").exists():
        return False
    if shutil.which("mvn") is None:
        raise StackError("kafka", "mvn is not installed: apt-get install -y maven")
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "libs").mkdir(parents=True)
    (work / "pom.xml").write_text(render_pom())
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(work / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={work / 'libs'}",
                "-DincludeScope=runtime",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise StackError("kafka", "could not download the Kafka jars from Maven Central", log)
    (work / "libs" / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    (work / "libs").rename(target)
    shutil.rmtree(work)
    return True


def java_argv(jars: Path, main_class: str, *args: str) -> list[str]:
    return [
        "java",
        *JVM_OPTIONS,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={TEMPLATES / 'log4j2.xml'}",
        "-cp",
        f"{jars}/*",
        main_class,
        *args,
    ]


def format_storage(
    jars: Path, properties: Path, data_dir: Path, cluster_id: str, log: Path
) -> bool:
    """Format a node's storage unless it already holds a log; True when it formatted."""
    if (data_dir / "meta.properties").exists():
        return False
    argv = java_argv(
        jars, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)
    )
    with log.open("ab") as out:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        raise StackError("kafka", f"formatting the storage of {data_dir} failed", log)
    return True


def port_open(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def admin(servers: list[str]) -> Iterator[object]:
    from kafka.admin import KafkaAdminClient

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # connection noise while it boots
    client = KafkaAdminClient(
        bootstrap_servers=servers, request_timeout_ms=5000, client_id="dccf-dev"
    )
    try:
        yield client
    finally:
        client.close()


def brokers_ready(servers: list[str], node_ids: set[int]) -> bool:
    """True once every node in `node_ids` is a registered, reachable broker."""
    if not all(port_open(server) for server in servers):
        return False
    from kafka.errors import KafkaError

    try:
        with admin(servers) as client:
            cluster = client.describe_cluster()  # type: ignore[attr-defined]
    except KafkaError:
        return False
    registered = {
        broker["broker_id"] for broker in cluster["brokers"] if not broker.get("is_fenced")
    }
    return node_ids <= registered


def ensure_topic(servers: list[str], topic: str, partitions: int, factor: int) -> str:
    """Create the jobs topic unless it exists; returns what the topic looks like now."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        with admin(servers) as client:
            try:
                client.create_topics(  # type: ignore[attr-defined]
                    [NewTopic(topic, partitions, factor)], timeout_ms=30000
                )
                verb = "created"
            except TopicAlreadyExistsError:
                verb = "exists"
            # A topic just created may show no partitions until its metadata has spread.
            deadline = time.monotonic() + TOPIC_METADATA_SECONDS
            while True:
                found = client.describe_topics([topic])[0]["partitions"]  # type: ignore[attr-defined]
                if found or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    except KafkaError as error:
        raise StackError("kafka", f"creating topic {topic} failed: {error!r}") from error
    replicas = min((len(p["replica_nodes"]) for p in found), default=0)
    summary = f"topic {topic} {verb}: {len(found)} partitions, replication {replicas}"
    if len(found) != partitions or replicas != factor:
        summary += f" (the stack asks for {partitions} partitions, replication {factor})"
    return summary
