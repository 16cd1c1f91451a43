"""Where the stack under test lives: the only place the e2e suite reads the environment."""

from __future__ import annotations

import os

URL = (os.environ.get("DCCF_URL") or "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ.get("DCCF_TOKEN") or ""

# Generous: on a 2-core machine with two workers a job may sit behind a whole batch.
JOB_DEADLINE_SECONDS = 240.0


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
