"""Where the local stack keeps its state, logs, pidfiles and download caches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Layout:
    repo: Path
    state: Path
    cache: Path

    @classmethod
    def discover(cls) -> Layout:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(repo=REPO_ROOT, state=REPO_ROOT / ".dccf", cache=Path(xdg) / "dccf")

    @property
    def venv_bin(self) -> Path:
        return self.state / "venv" / "bin"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def kafka(self) -> Path:
        return self.state / "kafka"

    @property
    def docker_root(self) -> Path:
        return self.state / "docker"

    @property
    def docker_exec_root(self) -> Path:
        return self.state / "docker-run"

    @property
    def tmp(self) -> Path:
        return self.state / "tmp"

    @property
    def stack_file(self) -> Path:
        return self.state / "stack.json"

    @property
    def base_image_tar(self) -> Path:
        return self.cache / "debian-bookworm-slim.tar"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def kafka_node(self, node: int) -> Path:
        return self.kafka / f"node-{node}"

    def relative(self, path: Path) -> str:
        """Paths inside the repo are shown repo-relative: shorter, and what a user types."""
        try:
            return str(path.relative_to(self.repo))
        except ValueError:
            return str(path)
