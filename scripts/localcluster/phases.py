"""Wall-clock time of each phase of a cluster run, printed as a table and kept in a file."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Phases:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def table(self) -> str:
        width = max((len(name) for name in self.seconds), default=5)
        lines = [f"{name.ljust(width)}  {spent:7.1f} s" for name, spent in self.seconds.items()]
        lines.append(f"{'total'.ljust(width)}  {sum(self.seconds.values()):7.1f} s")
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with path.open("a") as out:
            out.write(f"== {stamp}\n{self.table()}\n")
