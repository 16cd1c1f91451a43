"""What one run of the stack is: sizes, ports and the DCCF_* environment the services get.

Defaults come from `dccf.settings`, so the stack listens where the services and tests look by
default; a DCCF_* variable set when calling `scripts/dev up` overrides them like it would for the
services. The config is saved in `stack.json` so that later commands (`env`, `start`, `stop`)
see the stack as it was brought up.

Several stacks can run side by side on one machine and share its Docker engine: the test
stack of a clone listens `TEST_PORT_SHIFT` ports above the clone's own, and
`DCCF_DEV_INSTANCE=N` moves both of a second clone's stacks `INSTANCE_PORT_SHIFT * N` ports up.
Their workers' names differ too (`local-worker-1`, `test-worker-1`, `local2-worker-1`), since a
worker removes what containers of its own name a crashed run left behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localstack import kafka_cluster
from localstack.report import StackError

DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_HOST = f"unix://{DOCKER_SOCKET}"
# Set per worker, or derived from the stack itself: never passed through from the caller.
_OWN_VARS = {"DCCF_WORKER_ID", "DCCF_KAFKA_BOOTSTRAP", "DCCF_DOCKER_HOST", "DCCF_URL"}
# Variables of scripts/dev itself; the services never see them.
DEV_PREFIX = "DCCF_DEV_"
INSTANCE_VAR = "DCCF_DEV_INSTANCE"
# Where the stack the tests run against keeps its state (pidfiles, stack.json): the fault
# tests stop and start its parts.
STATE_VAR = "DCCF_DEV_STATE"
MAX_INSTANCE = 9
INSTANCE_PORT_SHIFT = 1000
TEST_PORT_SHIFT = 100


def instance() -> int:
    """Which of several clones on this machine this one is (`DCCF_DEV_INSTANCE`, default 0)."""
    raw = os.environ.get(INSTANCE_VAR, "") or "0"
    if not raw.isdigit() or int(raw) > MAX_INSTANCE:
        raise StackError(
            "stack", f"{INSTANCE_VAR}={raw!r} must be a number from 0 to {MAX_INSTANCE}"
        )
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    workers: int = 2
    kafka_nodes: int = 1
    # Names the stack's workers: `<name>-worker-<i>`.
    name: str = "local"
    kafka_port: int = kafka_cluster.FIRST_PORT
    pg_port: int = 55432
    pg_user: str = "dccf"
    pg_password: str = "dccf"
    pg_database: str = "dccf"
    topic: str = "dccf-jobs"
    partitions: int = 6
    master_port: int = 8080
    # DCCF_* variables of the caller (API tokens, limits...), handed on to the services.
    passthrough: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, workers: int, kafka_nodes: int, test: bool = False) -> StackConfig:
        """The stack `up` (or, with `test`, `scripts/dev test`) brings up in this clone."""
        from dccf import settings  # the venv's project; only `up` and `test` need it

        try:
            current = settings.load()
        except settings.SettingsError as error:
            raise StackError("settings", str(error)) from error
        number = instance()
        shift = INSTANCE_PORT_SHIFT * number + (TEST_PORT_SHIFT if test else 0)
        return cls(
            workers=workers,
            kafka_nodes=kafka_nodes,
            name=("test" if test else "local") + (str(number) if number else ""),
            kafka_port=kafka_cluster.FIRST_PORT + shift,
            pg_port=current.postgres.port + shift,
            pg_user=current.postgres.user,
            pg_password=current.postgres.password,
            pg_database=current.postgres.database,
            topic=current.kafka.topic,
            partitions=current.kafka.partitions,
            master_port=current.master.port + shift,
            passthrough={
                key: value
                for key, value in os.environ.items()
                if key.startswith("DCCF_")
                and key not in _OWN_VARS
                and not key.startswith(DEV_PREFIX)
            },
        )

    @property
    def kafka(self) -> list[kafka_cluster.Node]:
        return kafka_cluster.nodes(self.kafka_nodes, self.kafka_port)

    @property
    def bootstrap(self) -> str:
        return kafka_cluster.bootstrap(self.kafka_nodes, self.kafka_port)

    def worker_id(self, worker: str) -> str:
        return f"{self.name}-{worker}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.master_port}"

    def service_env(self) -> dict[str, str]:
        """The environment of master and workers, and of the tests run against the stack."""
        return {
            **self.passthrough,
            "DCCF_PG_HOST": "127.0.0.1",
            "DCCF_PG_PORT": str(self.pg_port),
            "DCCF_PG_USER": self.pg_user,
            "DCCF_PG_PASSWORD": self.pg_password,
            "DCCF_PG_DATABASE": self.pg_database,
            "DCCF_KAFKA_BOOTSTRAP": self.bootstrap,
            "DCCF_KAFKA_TOPIC": self.topic,
            "DCCF_KAFKA_PARTITIONS": str(self.partitions),
            "DCCF_HOST": "127.0.0.1",
            "DCCF_PORT": str(self.master_port),
            "DCCF_DOCKER_HOST": DOCKER_HOST,
            "DCCF_URL": self.url,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o600)  # the passed-through variables may hold API tokens
        tmp.replace(path)


def load(path: Path) -> StackConfig | None:
    try:
        return StackConfig(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
