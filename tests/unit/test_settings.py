from __future__ import annotations

import pytest

from dccf import settings
from dccf.settings import SettingsError


def test_defaults_match_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DCCF_PG_PORT", "DCCF_KAFKA_BOOTSTRAP", "DCCF_API_TOKENS", "DCCF_MAX_UPLOAD_MB"):
        monkeypatch.delenv(name, raising=False)
    cfg = settings.load()
    assert cfg.postgres.port == 55432
    assert cfg.kafka.servers == ["127.0.0.1:19092"]
    assert cfg.master.api_tokens == {}
    assert cfg.limits.max_upload_bytes == 100 * 1024 * 1024


def test_password_loses_trailing_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCCF_PG_PASSWORD", "s3cret\n")
    assert settings.load().postgres.password == "s3cret"


def test_tokens_map_token_to_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCCF_API_TOKENS", "alice:tok-a, bob:tok-b")
    assert settings.load().master.api_tokens == {"tok-a": "alice", "tok-b": "bob"}


@pytest.mark.parametrize("raw", ["alice", ":tok", "alice:"])
def test_malformed_tokens_fail_loudly(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("DCCF_API_TOKENS", raw)
    with pytest.raises(SettingsError, match="principal:token"):
        settings.load()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("DCCF_PG_PORT", "five", "not a whole number"),
        ("DCCF_PG_PORT", "0", "at least 1"),
        ("DCCF_DEFAULT_CPUS", "lots", "not a number"),
        ("DCCF_ALLOW_BRIDGE_NETWORK", "maybe", "not a boolean"),
        ("DCCF_WEBHOOK_MAX_ATTEMPTS", "0", "at least 1"),
        ("DCCF_WEBHOOK_TIMEOUT_SECONDS", "0", "more than 0"),
        ("DCCF_WEBHOOK_BACKOFF_SECONDS", "-1", "more than 0"),
        ("DCCF_WEBHOOK_BACKOFF_CAP_SECONDS", "soon", "not a number"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, message: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        settings.load()


def test_bridge_network_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCCF_ALLOW_BRIDGE_NETWORK", "yes")
    assert settings.load().limits.allow_bridge_network is True


def test_registry_and_dashboard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKER_LOST_SECONDS", "WORKER_FORGET_HOURS", "DASHBOARD", "HEARTBEAT_SECONDS"):
        monkeypatch.delenv(f"DCCF_{name}", raising=False)
    cfg = settings.load()
    assert (cfg.master.worker_lost_seconds, cfg.master.worker_forget_hours) == (30, 24)
    assert cfg.master.dashboard is True and cfg.worker.heartbeat_seconds == 5.0
    monkeypatch.setenv("DCCF_DASHBOARD", "false")
    monkeypatch.setenv("DCCF_WORKER_LOST_SECONDS", "12")
    monkeypatch.setenv("DCCF_HEARTBEAT_SECONDS", "0.5")
    cfg = settings.load()
    assert (cfg.master.dashboard, cfg.master.worker_lost_seconds) == (False, 12)
    assert cfg.worker.heartbeat_seconds == 0.5
    monkeypatch.setenv("DCCF_WORKER_LOST_SECONDS", "1")
    with pytest.raises(SettingsError, match="DCCF_WORKER_LOST_SECONDS"):
        settings.load()
