"""The project's own programs: the master (REST API) and the workers, run from the venv."""

from __future__ import annotations

import urllib.error
import urllib.request

from localstack.config import StackConfig
from localstack.layout import Layout
from localstack.procs import Spec
from localstack.report import StackError


def _program(layout: Layout, name: str) -> str:
    path = layout.venv_bin / name
    if not path.exists():
        raise StackError(
            name, f"{layout.relative(path)} is missing: run scripts/dev up to install the project"
        )
    return str(path)


def master_spec(layout: Layout, config: StackConfig) -> Spec:
    return Spec(
        name="master",
        argv=[_program(layout, "dccf-master")],
        log=layout.log("master"),
        pidfile=layout.pidfile("master"),
        env=config.service_env(),
        cwd=layout.repo,
    )


def worker_name(index: int) -> str:
    return f"worker-{index}"


def worker_spec(layout: Layout, config: StackConfig, index: int) -> Spec:
    name = worker_name(index)
    return Spec(
        name=name,
        argv=[_program(layout, "dccf-worker")],
        log=layout.log(name),
        pidfile=layout.pidfile(name),
        env={**config.service_env(), "DCCF_WORKER_ID": config.worker_id(name)},
        cwd=layout.repo,
    )


def master_ready(config: StackConfig) -> bool:
    try:
        with urllib.request.urlopen(f"{config.url}/readyz", timeout=2) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False
