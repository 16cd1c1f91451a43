"""kubectl against the local cluster, as the admin."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localstack.report import StackError


@dataclass(frozen=True)
class Kubectl:
    binary: Path
    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        done = self.attempt(*args, stdin=stdin, timeout=timeout)
        if done.returncode != 0:
            raise StackError("kubectl", f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def attempt(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json"))

    def apply(self, manifest: str) -> None:
        self.run("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest)

    def ready(self) -> bool:
        done = self.attempt("get", "--raw", "/readyz", timeout=10)
        return done.returncode == 0 and done.stdout.strip() == "ok"
