"""`pip install dccf` without extras: a fresh venv holds the client and CLI but none of the
services' dependencies, and its `dccf` submits a job to the stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .target import JOB_DEADLINE_SECONDS, TOKEN, URL

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# What a wheel of the project is built from; a copy keeps pip's build out of the checkout.
SOURCES = ("pyproject.toml", "README.md", "dccf", "services")
SERVER_MODULES = ("pg8000", "kafka", "docker", "uvicorn", "starlette", "jinja2")
# pip's own limit; an install that hangs on the package index fails here, not at the tier's.
INSTALL_SECONDS = 900


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-install")
    source = root / "src"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=skip)
        else:
            shutil.copy2(path, source / name)
    venv = root / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    made = _run([sys.executable, "-m", "venv", str(venv)], env, 300)
    assert made.returncode == 0, made.stderr
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    installed = _run([*pip, str(source)], env, INSTALL_SECONDS)
    assert installed.returncode == 0, f"pip install (no extras) failed:\n{installed.stderr}"
    return venv


def _client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "DCCF_URL": URL, "DCCF_TOKEN": TOKEN}


def test_no_server_dependency_is_installed(bare_venv: Path) -> None:
    probe = (
        "import importlib.util, sys; "
        "print(','.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))"
    )
    found = _run(
        [str(bare_venv / "bin" / "python"), "-I", "-c", probe, *SERVER_MODULES], _client_env(), 60
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "", f"a bare install brought {found.stdout.strip()}"


def test_a_service_without_its_extra_names_it(bare_venv: Path) -> None:
    started = _run([str(bare_venv / "bin" / "dccf-worker")], _client_env(), 60)
    assert started.returncode == 1
    assert "pip install 'dccf[worker]'" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr, started.stderr


def test_the_bare_cli_submits_a_job(bare_venv: Path, tmp_path: Path) -> None:
    dccf = str(bare_venv / "bin" / "dccf")
    helped = _run([dccf, "--help"], _client_env(), 60)
    assert helped.returncode == 0, helped.stderr
    assert "submit" in helped.stdout

    context = tmp_path / "job"
    context.mkdir()
    (context / "Dockerfile").write_text(
        'FROM debian:bookworm-slim\nCMD ["echo", "from a bare client install"]\n'
    )
    argv = [dccf, "--json", "submit", str(context), "--name", "bare-client-install", "--wait"]
    submitted = _run(argv, _client_env(), JOB_DEADLINE_SECONDS + 60)
    assert submitted.returncode == 0, f"{submitted.stdout}\n{submitted.stderr}"
    job = json.loads(submitted.stdout)
    assert job["status"] == "succeeded", job

    logs = _run([dccf, "logs", str(job["id"]), "--stream", "stdout"], _client_env(), 60)
    assert logs.returncode == 0, logs.stderr
    assert "from a bare client install" in logs.stdout
