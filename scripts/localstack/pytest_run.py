"""pytest as the dev commands run it: its output passed through as it comes, its closing
summary line kept, so the caller can repeat it after a long `down` or add up its counts."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SUMMARY = re.compile(r"^=*\s*(\d+ \w+|no tests ran)\b.* in \d+(\.\d+)?s\b")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?)")


@dataclass(frozen=True)
class PytestRun:
    code: int
    summary: str | None

    def counts(self) -> dict[str, int]:
        """Passed and failed tests (errors count as failed); a run that failed before any test
        ran counts as one failure."""
        counts = {"passed": 0, "failed": 0}
        for number, word in _COUNT.findall(self.summary or ""):
            counts["passed" if word == "passed" else "failed"] += int(number)
        if self.code != 0 and counts["failed"] == 0:
            counts["failed"] += 1
        return counts


def run(args: list[str], cwd: Path, env: dict[str, str]) -> PytestRun:
    """`python -m pytest ARGS` in `cwd` with exactly `env`."""
    summary = None
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as pytest:
        for line in pytest.stdout or ():
            sys.stdout.write(line)
            sys.stdout.flush()
            if SUMMARY.match(line.strip()):
                summary = line.strip()
    return PytestRun(pytest.returncode, summary)
