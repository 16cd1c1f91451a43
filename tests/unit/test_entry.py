"""The services' import checks (services/entry.py) against pyproject.toml's extras."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from services import entry

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict[str, object]:
    with PYPROJECT.open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def _extra(name: str) -> set[str]:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    names = set()
    for requirement in extras[name]:
        found = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert found, requirement
        names.add(_canonical(found.group()))
    return names


@pytest.mark.parametrize("extra", sorted(entry.EXTRAS))
def test_each_service_checks_exactly_its_extra(extra: str) -> None:
    assert {_canonical(dist) for dist in entry.EXTRAS[extra]} == _extra(extra)


@pytest.mark.parametrize("extra", sorted(entry.EXTRAS))
def test_each_checked_module_comes_from_its_distribution(extra: str) -> None:
    providers = metadata.packages_distributions()
    for dist, module in entry.EXTRAS[extra].items():
        assert _canonical(dist) in {_canonical(d) for d in providers.get(module, [])}, module


def test_console_scripts_go_through_the_check() -> None:
    scripts = _project()["scripts"]
    assert scripts == {
        "dccf": "dccf.cli:main",
        "dccf-master": "services.entry:master",
        "dccf-worker": "services.entry:worker",
    }


def test_the_client_needs_no_extra() -> None:
    assert _project()["dependencies"] == ["httpx>=0.27"]


def test_a_missing_module_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(entry.EXTRAS, "worker", {"docker": "docker", "nowhere": "dccf_no_such"})
    with pytest.raises(SystemExit) as exited:
        entry.worker()
    assert str(exited.value) == (
        "dccf-worker needs the worker extra: pip install 'dccf[worker]' (missing: nowhere)"
    )
