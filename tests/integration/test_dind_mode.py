"""The worker as a Kubernetes worker pod runs it: the services image next to a nested
dockerd sharing a socket volume (scripts/dind-check), running the demo job to succeeded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_job_succeeds_on_a_dind_worker_built_from_this_repo() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "dind-check")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "OK: the demo job succeeded on the DinD worker" in output
