"""The text parts of `POST /v1/jobs`, checked against API.md and turned into a `JobRequest`.

Every rule gets its own 400 with a message that says what was wrong and what is allowed; a field
the API does not know is an error too, so a typo (`timeout=60`) is never silently ignored.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dccf import settings
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, JobLimits, Network
from services.master import callback_url
from services.master.errors import InvalidInput

TEXT_FIELDS = (
    "name",
    "priority",
    "timeout_seconds",
    "memory_mb",
    "cpus",
    "network",
    "callback_url",
    "build_args",
)
FILE_PARTS = ("dockerfile", "files", "context")

MAX_NAME_CHARS = 200
MIN_MEMORY_MB = 16
MIN_CPUS = 0.1
MAX_CALLBACK_URL_CHARS = 2048
MAX_BUILD_ARGS_BYTES = 64 * 1024
MAX_BUILD_ARGS = 100
MAX_BUILD_ARG_NAME_CHARS = 128

# ASCII digits only: int() and float() also take "1_000", "1e3", "nan" and non-Latin digits.
_WHOLE = re.compile(r"[0-9]{1,18}")
_SIGNED = re.compile(r"[-+]?[0-9]{1,18}")
_DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}")
# A build arg becomes an environment variable of RUN steps, so it takes a shell variable's name.
_BUILD_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_CHARS = 60


@dataclass(frozen=True)
class JobRequest:
    name: str | None
    limits: JobLimits
    callback_url: str | None
    build_args: dict[str, str]
    priority: int = 0


def parse_job_fields(fields: Mapping[str, str], limits: settings.Limits) -> JobRequest:
    """Validate the form's text parts; raise `InvalidInput` naming the first bad one.

    A repeated field must be refused by the caller: a mapping has already lost the repeat.
    """
    _check_names(fields)
    return JobRequest(
        name=_name(fields.get("name", "")),
        limits=JobLimits(
            timeout_seconds=_whole(
                fields,
                "timeout_seconds",
                1,
                limits.max_timeout_seconds,
                limits.default_timeout_seconds,
            ),
            memory_mb=_whole(
                fields, "memory_mb", MIN_MEMORY_MB, limits.max_memory_mb, limits.default_memory_mb
            ),
            cpus=_cpus(fields.get("cpus", ""), limits),
            network=_network(fields.get("network", ""), limits),
        ),
        callback_url=_callback_url(fields.get("callback_url", ""), limits.allow_private_callbacks),
        build_args=_build_args(fields.get("build_args", "")),
        priority=_priority(fields.get("priority", "")),
    )


def _check_names(fields: Mapping[str, str]) -> None:
    for key in fields:
        if key in FILE_PARTS:
            raise InvalidInput(
                f"'{key}' must be sent as a file part (with a filename), not as a text field",
                code="file_expected",
            )
        if key not in TEXT_FIELDS:
            close = difflib.get_close_matches(key, TEXT_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise InvalidInput(
                f"unknown field {_shown(key)}; {hint}the text fields are "
                f"{', '.join(TEXT_FIELDS)} and the file parts are {', '.join(FILE_PARTS)}",
                code="unknown_field",
            )


def _name(raw: str) -> str | None:
    if not raw:
        return None
    if len(raw) > MAX_NAME_CHARS:
        raise _invalid(f"name must be at most {MAX_NAME_CHARS} characters, got {len(raw)}")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in raw):
        raise _invalid(
            f"name must be printable text without control characters such as newlines or tabs, "
            f"got {_shown(raw)}"
        )
    return raw


def _whole(fields: Mapping[str, str], key: str, low: int, high: int, default: int) -> int:
    raw = fields.get(key, "").strip()
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise _invalid(f"{key} must be a whole number from {low} to {high}, got {_shown(raw)}")
    return int(raw)


def _priority(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    if not _SIGNED.fullmatch(raw) or not MIN_PRIORITY <= int(raw) <= MAX_PRIORITY:
        raise _invalid(
            f"priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(higher runs first; default 0), got {_shown(raw)}"
        )
    return int(raw)


def _cpus(raw: str, limits: settings.Limits) -> float:
    raw = raw.strip()
    if not raw:
        return limits.default_cpus
    # The pattern admits only finite decimals, so no nan or inf reaches the range check.
    if not _DECIMAL.fullmatch(raw) or not MIN_CPUS <= float(raw) <= limits.max_cpus:
        raise _invalid(
            f"cpus must be a number from {MIN_CPUS:g} to {limits.max_cpus:g} "
            f"(a decimal such as 0.5), got {_shown(raw)}"
        )
    return float(raw)


def _network(raw: str, limits: settings.Limits) -> Network:
    raw = raw.strip()
    if not raw:
        return Network.NONE
    try:
        network = Network(raw)
    except ValueError:
        raise _invalid(f"network must be 'none' or 'bridge', got {_shown(raw)}") from None
    if network is Network.BRIDGE and not limits.allow_bridge_network:
        raise InvalidInput(
            "network 'bridge' is not allowed on this server; use 'none' (the default)",
            code="network_not_allowed",
        )
    return network


def _callback_url(raw: str, allow_private: bool) -> str | None:
    url = raw.strip()
    if not url:
        return None
    if len(url) > MAX_CALLBACK_URL_CHARS:
        raise _invalid(
            f"callback_url must be at most {MAX_CALLBACK_URL_CHARS} characters, got {len(url)}"
        )
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cs") for char in url):
        raise _invalid(
            "callback_url must not contain spaces or control characters (percent-encode them), "
            f"got {_shown(url)}"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what rejects "http://host:99999/"
    except ValueError as exc:
        raise _invalid(f"callback_url is not a valid URL ({exc}), got {_shown(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(
            f"callback_url must be an http:// or https:// URL with a host, got {_shown(url)}"
        )
    if not allow_private:
        # Names are resolved and checked again at every delivery (DNS can change).
        reason = callback_url.submit_refusal(parts.hostname)
        if reason is not None:
            raise _invalid(
                f"callback_url must reach a public host, but {reason}; loopback, private and "
                "link-local callbacks are refused unless the server sets "
                f"{callback_url.ALLOW_SETTING}=true"
            )
    return url


def _build_args(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    example = 'a JSON object of strings, e.g. {"VERSION": "1.2"}'
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_BUILD_ARGS_BYTES:
        raise _invalid(f"build_args must be at most {MAX_BUILD_ARGS_BYTES // 1024} KiB of JSON")
    try:
        data = json.loads(raw, object_pairs_hook=_refuse_repeated_keys)
    except json.JSONDecodeError as exc:
        raise _invalid(f"build_args must be {example}; {exc}") from None
    except RecursionError:
        raise _invalid(f"build_args must be {example}; it is nested too deeply") from None
    if not isinstance(data, dict):
        raise _invalid(f"build_args must be {example}, got {_json_kind(data)}")
    if len(data) > MAX_BUILD_ARGS:
        raise _invalid(f"build_args may hold at most {MAX_BUILD_ARGS} entries, got {len(data)}")
    for key, value in data.items():
        if len(key) > MAX_BUILD_ARG_NAME_CHARS or not _BUILD_ARG_NAME.fullmatch(key):
            raise _invalid(
                f"build_args name {_shown(key)} is not a valid build-arg name: use letters, "
                f"digits and '_', not starting with a digit, at most "
                f"{MAX_BUILD_ARG_NAME_CHARS} characters"
            )
        if not isinstance(value, str):
            raise _invalid(
                f"build_args value of {key} must be a string, got {_json_kind(value)} "
                f'(quote it: "{key}": "...")'
            )
        if "\x00" in value or any(unicodedata.category(char) == "Cs" for char in value):
            raise _invalid(f"build_args value of {key} must not contain NUL or lone surrogates")
    return data


def _refuse_repeated_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise _invalid(f"build_args has the key {_shown(key)} twice; give each key once")
        data[key] = value
    return data


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_field")


def _shown(value: str) -> str:
    """The value quoted for a message, cut short so a huge field cannot flood the answer."""
    if len(value) > _SHOWN_CHARS:
        value = value[:_SHOWN_CHARS] + "..."
    return repr(value)
