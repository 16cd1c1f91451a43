"""The static checks `scripts/dev test` runs before it starts a stack: ruff and mypy.

A finding fails the test command at once, before minutes of tiers. Every check runs, so one
pass shows all of them. `DCCF_DEV_SKIP_CHECKS=1` skips them for targeted runs while a change
is still under way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localstack.report import say

SKIP_VAR = "DCCF_DEV_SKIP_CHECKS"


@dataclass(frozen=True)
class Check:
    name: str
    # The interpreter's arguments: each tool runs as a module of the venv's Python.
    args: tuple[str, ...]
    fix: str


# What each covers and how strictly is configured in pyproject.toml.
CHECKS = (
    Check("ruff check", ("-m", "ruff", "check", "."), "fix them; `ruff check --fix .` does some"),
    Check("ruff format", ("-m", "ruff", "format", "--check", "."), "run `ruff format .`"),
    Check("mypy", ("-m", "mypy"), "fix the types (mypy --strict over pyproject's files)"),
)


def skipped(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(SKIP_VAR, "") not in ("", "0")


def run(repo: Path, checks: Sequence[Check] = CHECKS, python: str = sys.executable) -> bool:
    """Run every check in `repo`, print the findings of those that fail; True if all pass."""
    failed = []
    for check in checks:
        started = time.monotonic()
        result = subprocess.run(
            [python, *check.args],
            cwd=repo,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if result.returncode == 0:
            say("checks", f"{check.name}: clean", started)
            continue
        failed.append(check.name)
        say("checks", f"{check.name}: FAILED (exit {result.returncode}): {check.fix}", started)
        for line in (result.stdout + result.stderr).rstrip().splitlines():
            print(f"    {line}", flush=True)
    if failed:
        say(
            "checks",
            f"{', '.join(failed)} found problems, so no test ran; fix them, or set "
            f"{SKIP_VAR}=1 to skip the checks while running chosen tests",
        )
    return not failed
