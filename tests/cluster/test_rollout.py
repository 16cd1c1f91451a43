"""A code change rolls the master and the workers to the new image while jobs come in, and
no job is lost or recorded twice."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from faults.jobs import assert_recorded_once, post_job, wait_terminal
from localcluster.kube import Kubectl

from .pods import NAMESPACE, all_ready, wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
# What a deploy reads: the program, its project file and the image's build context.
SOURCE_PATHS = ("infra", "dccf", "services", "images", "pyproject.toml", "README.md")
JOBS = 50


def changed_copy(target: Path) -> Path:
    for entry in SOURCE_PATHS:
        source = REPO / entry
        if source.is_dir():
            shutil.copytree(source, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / entry)
    init = target / "dccf" / "__init__.py"
    init.write_text(init.read_text() + f"\n# rollout test {time.time_ns()}\n")
    return target


def images(kube: Kubectl) -> dict[str, str]:
    found = {}
    for name in ("dccf-master", "dccf-worker"):
        spec = kube.get("deployment", name, "-n", NAMESPACE)["spec"]["template"]["spec"]
        found[name] = spec["containers"][0]["image"]
    return found


def submit_retrying_refused(client: httpx.Client, name: str) -> dict[str, object]:
    """A refused connection never reached a master, so trying again cannot make a twin."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = post_job(client, name)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            continue
        assert response.status_code == 201, (name, response.status_code, response.text)
        job: dict[str, object] = response.json()
        return job


def test_a_code_change_rolls_master_and_workers_while_50_jobs_lose_nothing(
    client: httpx.Client, kube: Kubectl, tmp_path: Path
) -> None:
    old = images(kube)
    source = changed_copy(tmp_path / "checkout")
    started = time.monotonic()
    deploy = subprocess.Popen(
        [str(REPO / "scripts" / "dev"), "cluster", "deploy", "--source", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    jobs = []
    for i in range(JOBS):
        jobs.append(submit_retrying_refused(client, f"cluster-rollout-{i}"))
        # Spread the submissions over the image build and the rollouts.
        time.sleep(1.5 if deploy.poll() is None else 0)
    output, _ = deploy.communicate(timeout=900)
    assert deploy.returncode == 0, output[-5000:]
    print(f"deploy of the changed code took {time.monotonic() - started:.1f} s")
    new = images(kube)
    assert all(new[name] != old[name] for name in old), (old, new)
    assert new["dccf-master"] == new["dccf-worker"]
    wait_for(lambda: all_ready(kube, "master", 2), 300, "two ready masters on the new image")
    wait_for(lambda: all_ready(kube, "worker", 2), 300, "two ready workers on the new image")
    finished = wait_terminal(client, [int(str(job["id"])) for job in jobs], 900)
    for done in finished:
        assert_recorded_once(client, done)
    attempts = sorted(int(done["attempt"]) for done in finished)
    print(f"{len(finished)} jobs succeeded; attempts {attempts}")
