"""`scripts/dev test`'s static checks (scripts/localstack/checks.py) and their hook."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from localstack import checks, cli

PASSES = checks.Check("passes", ("-c", "pass"), "nothing to do")
FINDS = checks.Check(
    "finds", ("-c", "import sys; print('x.py:1: error: a finding'); sys.exit(1)"), "fix x.py"
)


def test_clean_checks_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert checks.run(tmp_path, [PASSES, PASSES])
    assert "passes: clean" in capsys.readouterr().out


def test_a_finding_fails_and_is_shown_with_every_check_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not checks.run(tmp_path, [FINDS, PASSES])
    out = capsys.readouterr().out
    assert "finds: FAILED (exit 1): fix x.py" in out
    assert "    x.py:1: error: a finding" in out
    assert "passes: clean" in out
    assert f"{checks.SKIP_VAR}=1" in out


@pytest.mark.parametrize(("value", "skip"), [("", False), ("0", False), ("1", True)])
def test_the_skip_variable(value: str, skip: bool) -> None:
    assert checks.skipped({checks.SKIP_VAR: value}) is skip


def test_the_checks_cover_ruff_and_mypy() -> None:
    assert [check.args[1] for check in checks.CHECKS] == ["ruff", "ruff", "mypy"]


def test_test_stops_before_any_stack_on_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(checks.SKIP_VAR, raising=False)
    monkeypatch.setattr(checks, "run", lambda repo: False)

    def no_stack(args: argparse.Namespace) -> None:
        raise AssertionError("a stack was requested although a check failed")

    monkeypatch.setattr(cli, "_requested_for_tests", no_stack)
    assert cli._test(argparse.Namespace(), []) == 1
