"""The dashboard's Jinja2 environment: templates with autoescape, and the filters they use."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from starlette.templating import Jinja2Templates

from dccf.human import human_duration, human_size

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def asset_version() -> str:
    """Changes with the static files, so a browser never runs yesterday's script."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _clock(value: datetime | str) -> str:
    """`13:04:05` today, `Nov 27 13:04` before (UTC: the page has no idea of the user's zone)."""
    moment = _parse(value).astimezone(UTC)
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")


def _ago(value: datetime | str) -> str:
    seconds = max(0.0, (datetime.now(UTC) - _parse(value)).total_seconds())
    return f"{human_duration(seconds)} ago"


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=TEMPLATES)
    env = found.env
    env.filters.update(
        iso=_iso,
        clock=_clock,
        ago=_ago,
        duration=lambda seconds: human_duration(float(seconds or 0)),
        size=human_size,
        urlpath=lambda path: quote(path),
    )
    env.globals["asset_version"] = asset_version()
    return found
