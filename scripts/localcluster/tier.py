"""The cluster test tier: build and start the cluster, deploy DCCF with the real engine, run the
unchanged e2e suite and the cluster's own tests against it, destroy it, stop the cluster.

Each phase is timed; the table is printed at the end and appended to
.dccf/cluster/phase-times.txt. The exit code is 0 only when every phase and every test passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from localstack import pytest_run, stack
from localstack.config import StackConfig
from localstack.layout import Layout
from localstack.report import StackError, fail, say

from localcluster import cluster, deploy, service
from localcluster.layout import ClusterLayout
from localcluster.phases import Phases

# The destroy test goes last: it takes the deployed stack away.
CLUSTER_TESTS = (
    "tests/cluster/test_standins.py",
    "tests/cluster/test_faults.py",
    "tests/cluster/test_rollout.py",
    "tests/cluster/test_destroy.py",
)


def run(layout: ClusterLayout, extra: list[str]) -> int:
    phases = Phases()
    totals = {"passed": 0, "failed": 0}
    code = 0
    # Images are built by the machine's Docker engine; if none answers, by the test stack's,
    # whose data `scripts/dev test` keeps as a build cache.
    engine = Layout.discover(test=True)
    engine_was_ours = stack.live(engine, "dockerd")
    try:
        stack.Stack(engine, StackConfig()).docker()
        binaries = cluster.up(layout, phases)
        with phases.time("pulumi up"):
            changes = deploy.up(layout, binaries, layout.repo)
        say("pulumi", f"up: {changes}")
        with phases.time("second pulumi up"):
            again = deploy.up(layout, binaries, layout.repo)
        if set(again) - {"same"}:
            raise StackError("pulumi", f"a second `up` of an unchanged tree changed {again}")
        say("pulumi", f"second up changed nothing: {again}")
        kube = cluster.kubectl(layout, binaries)
        env = {
            "DCCF_URL": service.master_url(kube),
            "DCCF_TOKEN": deploy.token(layout),
            "KUBECONFIG": str(layout.admin_kubeconfig),
        }
        for phase, paths in (("e2e", ["tests/e2e"]), ("cluster tests", list(CLUSTER_TESTS))):
            with phases.time(phase):
                say("cluster-test", " ".join(["-m", "pytest", *paths, *extra]))
                result = pytest_run.run([*paths, *extra], layout.repo, {**os.environ, **env})
            code = code or result.code
            counts = result.counts()
            totals = {key: totals[key] + counts[key] for key in totals}
    except StackError as error:
        fail(error, layout.relative(error.log) if error.log else None)
        code = code or 1
        totals["failed"] += 1
    finally:
        with phases.time("cluster down"):
            cluster.down(layout, purge=True)
        if not engine_was_ours and stack.live(engine, "dockerd"):
            stack.stop_one(engine, "dockerd")
        print(f"[dev] cluster tier phases:\n{phases.table()}", flush=True)
        phases.save(layout.stack.state / "cluster-phase-times.txt")
    print(f"cluster: {totals['passed']} passed, {totals['failed']} failed", flush=True)
    return code


def _names_tests(repo: Path, extra: list[str]) -> bool:
    return any(not arg.startswith("-") and (repo / arg.split("::")[0]).exists() for arg in extra)


def prebuild_tools(repo: Path, extra: list[str]) -> subprocess.Popen[bytes] | None:
    """The first hook of `scripts/dev test`: build the cluster's tools (tens of minutes when
    cold, at the lowest CPU priority) while the local tiers run. None when the caller named
    test paths of their own: then only those run, and no cluster tier."""
    if _names_tests(repo, extra):
        return None
    layout = ClusterLayout.discover()
    layout.logs.mkdir(parents=True, exist_ok=True)
    with layout.log("prebuild").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "localcluster.tools"],
            env={**os.environ, "PYTHONPATH": str(repo / "scripts")},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def after_local_tiers(prebuild: subprocess.Popen[bytes] | None, extra: list[str]) -> int:
    """The second hook: the cluster tier, once the tools are built."""
    if prebuild is None:
        return 0
    started = time.monotonic()
    if prebuild.poll() is None:
        say("tools", "waiting for the cluster's tools, built while the local tiers ran")
    prebuild.wait()
    say("tools", f"the background build exited with {prebuild.returncode}", started)
    return run(ClusterLayout.discover(), extra)
