"""Where a local stack keeps its state, logs, pidfiles and download caches.

A clone has two stacks: the one `scripts/dev up` runs, in .dccf/, and the throwaway one that
`scripts/dev test` brings up for the test tiers, in .dccf/test/. Both share the clone's venv
and the download cache.
"""

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
    def discover(cls, test: bool = False, state: str | None = None) -> Layout:
        """This clone's `up` stack, its test stack, or the stack whose state is in `state`."""
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        own = REPO_ROOT / ".dccf"
        chosen = Path(state).resolve() if state else own / "test" if test else own
        return cls(repo=REPO_ROOT, state=chosen, cache=Path(xdg) / "dccf")

    @property
    def venv_bin(self) -> Path:
        return self.repo / ".dccf" / "venv" / "bin"

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
