"""The local stack as the fault tests see it: its components, their PIDs, and the means to
stop, start and kill them.

Components are stopped and started through `scripts/dev stop/start`, as a user would; crashes
are `kill -9` of the PIDs in the stack's `run/*.pid` (`.dccf/test/` when `scripts/dev test`
runs them; it says where in `DCCF_DEV_STATE`). `restore()` brings back whatever a test took
away, and `wait_healthy()` waits until the stack serves again: every component runs, the
master is ready, and every broker is back in every partition's in-sync set.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from localstack.procs import read_pid

from dccf import queue
from dccf.settings import Settings

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("DCCF_DEV_STATE") or REPO / ".dccf")
DEV = REPO / "scripts" / "dev"
HEALTHY_TIMEOUT = 180.0


class StackProblem(Exception):
    """The stack cannot be driven as the fault tests need; the message says what to do."""


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


@dataclass(frozen=True)
class LocalStack:
    settings: Settings
    kafka_nodes: int
    workers: int
    # Workers run as `<name>-worker-<i>`.
    name: str

    @classmethod
    def discover(cls, settings: Settings) -> LocalStack:
        saved = STATE / "stack.json"
        if not saved.exists():
            raise StackProblem(
                f"no local stack in {STATE}: the fault tests drive the stack of this clone; run "
                "them with `scripts/dev test tests/faults`, or `scripts/dev up` first"
            )
        config = json.loads(saved.read_text())
        port = int(config["master_port"])
        if settings.client.url.rstrip("/") != f"http://127.0.0.1:{port}":
            raise StackProblem(
                f"DCCF_URL={settings.client.url} is not this clone's stack (port {port}); "
                'run `eval "$(scripts/dev env)"` first'
            )
        return cls(
            settings, int(config["kafka_nodes"]), int(config["workers"]), str(config["name"])
        )

    @property
    def brokers(self) -> list[str]:
        return [f"kafka-{i}" for i in range(1, self.kafka_nodes + 1)]

    @property
    def worker_names(self) -> list[str]:
        return [f"worker-{i}" for i in range(1, self.workers + 1)]

    def worker_id(self, worker_name: str) -> str:
        """The id a worker of the stack records in the jobs it runs."""
        return f"{self.name}-{worker_name}"

    def worker_name(self, worker_id: str) -> str:
        return worker_id.removeprefix(f"{self.name}-")

    @property
    def components(self) -> list[str]:
        """In the order they depend on each other."""
        return ["postgres", *self.brokers, "master", *self.worker_names]

    # --- processes -------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        """The component's PID while that very process runs (never a reused PID)."""
        return read_pid(STATE / "run" / f"{name}.pid")

    def missing(self) -> list[str]:
        return [name for name in self.components if self.pid(name) is None]

    def kill9(self, name: str) -> int:
        """Crash the component: SIGKILL to its process group (it leads one of its own)."""
        pid = self.pid(name)
        if pid is None:
            raise StackProblem(f"{name} is not running, so it cannot be killed")
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: self.pid(name) is None, 10, f"{name} (pid {pid}) to die after SIGKILL")
        return pid

    def freeze(self, name: str) -> int:
        """SIGSTOP the component: it keeps its sockets but does nothing until thawed or killed."""
        pid = self.pid(name)
        if pid is None:
            raise StackProblem(f"{name} is not running, so it cannot be frozen")
        os.kill(pid, signal.SIGSTOP)
        return pid

    def stop(self, *names: str) -> None:
        """`scripts/dev stop` each, all at once (a Kafka quorum stops together)."""
        self._dev("stop", names)

    def stop_kafka(self) -> None:
        """Take every broker down. A broker's clean stop needs a controller quorum, so the
        last one cannot stop cleanly (scripts/dev would SIGKILL it after a 30 s grace): all
        but one stop cleanly, and the last is killed at once."""
        *clean, last = self.brokers
        if clean:
            self.stop(*clean)
            self.kill9(last)
        else:
            self.stop(last)

    def start(self, *names: str) -> None:
        """`scripts/dev start` each, all at once (a Kafka quorum only forms together); each
        returns once its component is ready."""
        self._dev("start", names)

    def _dev(self, command: str, names: tuple[str, ...]) -> None:
        def run(name: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(DEV), command, name],
                cwd=REPO,
                env={**os.environ, "DCCF_DEV_STATE": str(STATE)},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
            )

        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            results = list(pool.map(run, names))
        failed = [
            f"scripts/dev {command} {name} exited {r.returncode}:\n{r.stdout}{r.stderr}"
            for name, r in zip(names, results, strict=True)
            if r.returncode != 0
        ]
        if failed:
            raise StackProblem("\n".join(failed))

    def restore(self) -> list[str]:
        """Start whatever is not running, in dependency order; returns what it started."""
        missing = self.missing()
        for group in (
            [n for n in missing if n == "postgres"],
            [n for n in missing if n.startswith("kafka-")],
            [n for n in missing if n == "master"],
            [n for n in missing if n.startswith("worker-")],
        ):
            if group:
                self.start(*group)
        return missing

    # --- health ----------------------------------------------------------------------------

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "not checked yet"
        while time.monotonic() < deadline:
            last = self.problem() or ""
            if not last:
                return
            time.sleep(0.5)
        raise StackProblem(f"the stack is not healthy after {timeout:.0f} s: {last}")

    def problem(self) -> str | None:
        """What keeps the stack from being whole, or None."""
        missing = self.missing()
        if missing:
            return f"not running: {', '.join(missing)}"
        try:
            ready = httpx.get(f"{self.settings.client.url}/readyz", timeout=5)
        except httpx.HTTPError as exc:
            return f"the master does not answer /readyz: {exc!r}"
        if ready.status_code != 200:
            return f"the master is not ready: {ready.text}"
        try:
            with self.admin() as admin:
                return self._kafka_problem(admin)
        except KafkaError as exc:
            return f"Kafka does not answer: {exc!r}"

    def _kafka_problem(self, admin: KafkaAdminClient) -> str | None:
        topic = admin.describe_topics([self.settings.kafka.topic])[0]
        short = [
            p["partition_index"]
            for p in topic["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"]) or p["leader_id"] < 0
        ]
        if short or not topic["partitions"]:
            return f"partitions {short} of the jobs topic lack a leader or a full in-sync set"
        return None

    # --- Kafka -----------------------------------------------------------------------------

    @contextmanager
    def admin(self) -> Iterator[KafkaAdminClient]:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # noise while brokers come back
        client = KafkaAdminClient(
            bootstrap_servers=self.settings.kafka.servers,
            request_timeout_ms=5000,
            client_id="dccf-fault-tests",
        )
        try:
            yield client
        finally:
            client.close()

    def partition_leaders(self) -> dict[int, int]:
        """Partition of the jobs topic -> node id of its leader."""
        with self.admin() as admin:
            topic = admin.describe_topics([self.settings.kafka.topic])[0]
        return {p["partition_index"]: p["leader_id"] for p in topic["partitions"]}

    def notices(self, since_ms: int) -> dict[int, list[int]]:
        """Job id -> the partitions of its notices on the jobs topic since `since_ms`, in the
        order they were sent."""
        topic = self.settings.kafka.topic
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka.servers,
            enable_auto_commit=False,
            client_id="dccf-fault-tests",
        )
        try:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            consumer.assign(partitions)
            ends = consumer.end_offsets(partitions)
            starts = consumer.offsets_for_times({tp: since_ms for tp in partitions})
            for tp in partitions:
                start = starts.get(tp)
                consumer.seek(tp, start.offset if start is not None else ends[tp])
            found: dict[int, list[tuple[int, int]]] = {}
            deadline = time.monotonic() + 30
            while any(consumer.position(tp) < ends[tp] for tp in partitions):
                if time.monotonic() > deadline:
                    raise AssertionError("reading the jobs topic took over 30 s")
                for tp, records in consumer.poll(timeout_ms=500).items():
                    for record in records:
                        job_id = queue.decode(record.value)
                        if job_id is not None and record.offset < ends[tp]:
                            sent = (record.timestamp, tp.partition)
                            found.setdefault(job_id, []).append(sent)
            return {job_id: [p for _, p in sorted(sent)] for job_id, sent in found.items()}
        finally:
            consumer.close()
