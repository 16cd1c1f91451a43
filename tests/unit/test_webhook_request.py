"""A webhook's body, headers and signature, its retry schedule and its settings."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from dccf import settings
from dccf.job_records import JobRecord
from dccf.jobs import JobLimits, JobStatus
from services.master.job_json import job_json
from services.master.webhook_post import event_request, signature

JOB = JobRecord(
    id=42,
    principal="alice",
    name="demo",
    status=JobStatus.RUNNING,
    reason=None,
    exit_code=None,
    attempt=1,
    worker="w-1",
    cancel_requested=False,
    limits=JobLimits(60, 64, 1.0),
    callback_url="https://hooks.example.com/dccf",
    build_args={"SECRET_ARG": "not for receivers"},
    created_at=datetime(2026, 11, 27, 19, 10, 27, tzinfo=UTC),
    started_at=datetime(2026, 11, 27, 19, 10, 28, tzinfo=UTC),
    finished_at=None,
)


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231, test case 2.
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_event_body_is_the_api_job_object() -> None:
    body, _ = event_request(JOB, "d-1", "")
    assert json.loads(body) == {"event": "job.status", "job": job_json(JOB)}
    assert b"SECRET_ARG" not in body and b"alice" not in body


def test_headers_with_a_secret() -> None:
    body, headers = event_request(JOB, "0b6c8d4e-delivery", "s3cret")
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "dccf-webhooks",
        "X-DCCF-Event": "job.status",
        "X-DCCF-Delivery": "0b6c8d4e-delivery",
        "X-DCCF-Signature": "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest(),
    }


def test_no_signature_without_a_secret() -> None:
    _, headers = event_request(JOB, "d-1", "")
    assert "X-DCCF-Signature" not in headers


def test_webhook_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_ATTEMPTS", "TIMEOUT_SECONDS", "BACKOFF_SECONDS", "BACKOFF_CAP_SECONDS"):
        monkeypatch.delenv(f"DCCF_WEBHOOK_{name}", raising=False)
    master = settings.load().master
    assert (
        master.webhook_max_attempts,
        master.webhook_timeout_seconds,
        master.webhook_backoff_seconds,
        master.webhook_backoff_cap_seconds,
    ) == (8, 5.0, 5.0, 300.0)
    monkeypatch.setenv("DCCF_WEBHOOK_TIMEOUT_SECONDS", "0.5")
    assert settings.load().master.webhook_timeout_seconds == 0.5
