"""Every setting of DCCF, read once from `DCCF_*` environment variables.

Both services and the client import this module; nothing else reads the environment.
A malformed value fails at import with a message naming the variable.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A DCCF_* variable holds a value that cannot be used."""


def _str(name: str, default: str) -> str:
    return os.environ.get(f"DCCF_{name}", default)


def _int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(f"DCCF_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"DCCF_{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"DCCF_{name}={value} must be at least {minimum}")
    return value


def _float(name: str, default: float, above: float | None = None) -> float:
    raw = os.environ.get(f"DCCF_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"DCCF_{name}={raw!r} is not a number") from None
    if above is not None and not value > above:
        raise SettingsError(f"DCCF_{name}={raw} must be more than {above:g}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(f"DCCF_{name}")
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"DCCF_{name}={raw!r} is not a boolean (use true or false)")


def _tokens(raw: str) -> dict[str, str]:
    """Parse `principal:token,principal:token` into token -> principal."""
    tokens: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        principal, sep, token = item.partition(":")
        if not sep or not principal or not token:
            raise SettingsError(
                "DCCF_API_TOKENS must be a comma-separated list of principal:token pairs"
            )
        tokens[token] = principal
    return tokens


@dataclass(frozen=True)
class Postgres:
    host: str = field(default_factory=lambda: _str("PG_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("PG_PORT", 55432, 1))
    user: str = field(default_factory=lambda: _str("PG_USER", "dccf"))
    # Stripped: a Secret mounted from a file with a trailing newline broke the original.
    password: str = field(default_factory=lambda: _str("PG_PASSWORD", "dccf").strip())
    database: str = field(default_factory=lambda: _str("PG_DATABASE", "dccf"))
    pool_size: int = field(default_factory=lambda: _int("PG_POOL_SIZE", 8, 1))


@dataclass(frozen=True)
class Kafka:
    bootstrap: str = field(default_factory=lambda: _str("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    topic: str = field(default_factory=lambda: _str("KAFKA_TOPIC", "dccf-jobs"))
    partitions: int = field(default_factory=lambda: _int("KAFKA_PARTITIONS", 6, 1))

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]


@dataclass(frozen=True)
class Limits:
    """Per-job limits: the defaults a job gets and the most it may ask for."""

    default_timeout_seconds: int = field(
        default_factory=lambda: _int("DEFAULT_TIMEOUT_SECONDS", 3600, 1)
    )
    max_timeout_seconds: int = field(default_factory=lambda: _int("MAX_TIMEOUT_SECONDS", 86400, 1))
    default_memory_mb: int = field(default_factory=lambda: _int("DEFAULT_MEMORY_MB", 512, 16))
    max_memory_mb: int = field(default_factory=lambda: _int("MAX_MEMORY_MB", 8192, 16))
    default_cpus: float = field(default_factory=lambda: _float("DEFAULT_CPUS", 1.0))
    max_cpus: float = field(default_factory=lambda: _float("MAX_CPUS", 4.0))
    allow_bridge_network: bool = field(default_factory=lambda: _bool("ALLOW_BRIDGE_NETWORK", False))
    # Lets a callback_url reach loopback, private and link-local addresses (a test receiver
    # on the same host); off, so a job cannot make the master probe its own network.
    allow_private_callbacks: bool = field(
        default_factory=lambda: _bool("ALLOW_PRIVATE_CALLBACKS", False)
    )
    pids: int = field(default_factory=lambda: _int("PIDS_LIMIT", 512, 16))
    max_upload_bytes: int = field(
        default_factory=lambda: _int("MAX_UPLOAD_MB", 100, 1) * 1024 * 1024
    )
    max_dockerfile_bytes: int = 1024 * 1024
    max_output_bytes: int = field(
        default_factory=lambda: _int("MAX_OUTPUT_MB", 100, 1) * 1024 * 1024
    )
    log_cap_bytes: int = field(default_factory=lambda: _int("LOG_CAP_KB", 1024, 1) * 1024)


@dataclass(frozen=True)
class Master:
    host: str = field(default_factory=lambda: _str("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("PORT", 8080, 1))
    processes: int = field(default_factory=lambda: _int("MASTER_PROCESSES", 1, 1))
    api_tokens: dict[str, str] = field(default_factory=lambda: _tokens(_str("API_TOKENS", "")))
    webhook_secret: str = field(default_factory=lambda: _str("WEBHOOK_SECRET", "").strip())
    demo_dir: Path = field(
        default_factory=lambda: Path(_str("DEMO_DIR", str(REPO_ROOT / "images" / "demo")))
    )
    max_wait_seconds: int = 60
    sweep_seconds: float = field(default_factory=lambda: _float("SWEEP_SECONDS", 5.0))
    republish_after_seconds: int = field(
        default_factory=lambda: _int("REPUBLISH_AFTER_SECONDS", 30, 1)
    )
    max_attempts: int = field(default_factory=lambda: _int("MAX_ATTEMPTS", 3, 1))
    webhook_max_attempts: int = field(default_factory=lambda: _int("WEBHOOK_MAX_ATTEMPTS", 8, 1))
    webhook_timeout_seconds: float = field(
        default_factory=lambda: _float("WEBHOOK_TIMEOUT_SECONDS", 5.0, 0)
    )
    # Retry n waits min(cap, base * 2**(n-1)), less up to half of it at random.
    webhook_backoff_seconds: float = field(
        default_factory=lambda: _float("WEBHOOK_BACKOFF_SECONDS", 5.0, 0)
    )
    webhook_backoff_cap_seconds: float = field(
        default_factory=lambda: _float("WEBHOOK_BACKOFF_CAP_SECONDS", 300.0, 0)
    )
    # A worker whose last heartbeat is older than this shows as lost; rows of workers unseen
    # for `worker_forget_hours` are deleted by the sweeper.
    worker_lost_seconds: int = field(default_factory=lambda: _int("WORKER_LOST_SECONDS", 30, 2))
    worker_forget_hours: int = field(default_factory=lambda: _int("WORKER_FORGET_HOURS", 24, 1))
    # Off, the master serves the API only (GET / still answers 200 for probes).
    dashboard: bool = field(default_factory=lambda: _bool("DASHBOARD", True))


def _default_worker_id() -> str:
    # In Kubernetes HOSTNAME is the pod name, which is what an operator looks for.
    return os.environ.get("HOSTNAME") or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Worker:
    worker_id: str = field(default_factory=lambda: _str("WORKER_ID", _default_worker_id()))
    docker_host: str = field(default_factory=lambda: _str("DOCKER_HOST", ""))
    # Jobs one worker process runs at once, each in its own thread, on its one engine.
    slots: int = field(default_factory=lambda: _int("WORKER_SLOTS", 1, 1))
    lease_seconds: int = field(default_factory=lambda: _int("LEASE_SECONDS", 30, 5))
    # The worker exits when its main loop has not moved for this long (see watchdog.py).
    stall_seconds: int = field(default_factory=lambda: _int("WORKER_STALL_SECONDS", 180, 30))
    prune_threshold_gb: float = field(default_factory=lambda: _float("PRUNE_THRESHOLD_GB", 20.0))
    # How often the worker records itself in the workers registry (dccf/workers.py).
    heartbeat_seconds: float = field(default_factory=lambda: _float("HEARTBEAT_SECONDS", 5.0, 0))


@dataclass(frozen=True)
class Client:
    url: str = field(default_factory=lambda: _str("URL", "http://127.0.0.1:8080"))
    token: str = field(default_factory=lambda: _str("TOKEN", "").strip())


@dataclass(frozen=True)
class Settings:
    postgres: Postgres = field(default_factory=Postgres)
    kafka: Kafka = field(default_factory=Kafka)
    limits: Limits = field(default_factory=Limits)
    master: Master = field(default_factory=Master)
    worker: Worker = field(default_factory=Worker)
    client: Client = field(default_factory=Client)


def load() -> Settings:
    """Read the environment now; services call this once at start."""
    return Settings()
