"""The multipart form of `POST /v1/jobs`: its rules quote job_form.py's constants and this
server's limits, so /docs says what this deployment accepts."""

from __future__ import annotations

from dccf import settings
from dccf.jobs import MAX_PRIORITY, MIN_PRIORITY, Network
from services.master import job_form, models
from services.master.openapi_parts import FILE, MIB, Json


def job_form_schema(limits: settings.Limits) -> Json:
    """The text parts' rules quote the validator's constants and this server's limits."""
    cap = limits.max_upload_bytes // MIB
    path_rule = (
        "must be relative; no `..` segment, no absolute path, no NUL or control characters, "
        "no duplicate path"
    )
    bridge = "allowed" if limits.allow_bridge_network else "refused (400 `network_not_allowed`)"
    private = "allowed" if limits.allow_private_callbacks else "refused (400 `invalid_field`)"
    return {
        "type": "object",
        "description": f"The whole body is capped at {cap} MiB on this server "
        "(`DCCF_MAX_UPLOAD_MB`): past it, 413 and nothing is stored. An unknown part, or a text "
        "part sent twice, is a 400.",
        "properties": {
            "dockerfile": {
                **FILE,
                "description": "The Dockerfile, at most "
                f"{limits.max_dockerfile_bytes // MIB} MiB. Required unless `context` holds a "
                "`Dockerfile` at its root.",
            },
            "files": {
                "type": "array",
                "items": FILE,
                "description": "Repeatable. Each part's filename is its path inside the build "
                f"context and may contain `/`; it {path_rule}, and no part may clash with the "
                "`Dockerfile`.",
            },
            "context": {
                **FILE,
                "description": "Optional `.tar` or `.tar.gz` build context; its member names "
                "follow the same path rules; symlinks, hard links and device nodes are rejected.",
            },
            "name": {
                "type": "string",
                "maxLength": job_form.MAX_NAME_CHARS,
                "description": f"Optional, at most {job_form.MAX_NAME_CHARS} characters, no "
                "control characters.",
            },
            "priority": {
                "type": "string",
                "pattern": "^[-+]?[0-9]{1,18}$",
                "description": f"Whole number, {MIN_PRIORITY} .. {MAX_PRIORITY}; default 0. "
                + models.PRIORITY_RULE,
            },
            "timeout_seconds": {
                "type": "string",
                "pattern": "^[0-9]{1,18}$",
                "description": f"Whole number, 1 .. {limits.max_timeout_seconds} "
                f"(`DCCF_MAX_TIMEOUT_SECONDS`); default {limits.default_timeout_seconds}.",
            },
            "memory_mb": {
                "type": "string",
                "pattern": "^[0-9]{1,18}$",
                "description": f"Whole number, {job_form.MIN_MEMORY_MB} .. "
                f"{limits.max_memory_mb} (`DCCF_MAX_MEMORY_MB`); default "
                f"{limits.default_memory_mb}.",
            },
            "cpus": {
                "type": "string",
                "pattern": r"^([0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9})$",
                "description": f"Decimal, {job_form.MIN_CPUS:g} .. {limits.max_cpus:g} "
                f"(`DCCF_MAX_CPUS`); default {limits.default_cpus:g}.",
            },
            "network": {
                "type": "string",
                "enum": [n.value for n in Network],
                "default": Network.NONE.value,
                "description": "The network of the run (not of the build). `bridge` is "
                f"{bridge} on this server (`DCCF_ALLOW_BRIDGE_NETWORK`).",
            },
            "callback_url": {
                "type": "string",
                "format": "uri",
                "pattern": "^https?://",
                "maxLength": job_form.MAX_CALLBACK_URL_CHARS,
                "description": "Optional http:// or https:// URL with a host; every status "
                "change after `queued` is POSTed there (see the `job.status` webhook). A host "
                "that is or resolves to a loopback, private, link-local or other non-public "
                f"address is {private} on this server (`DCCF_ALLOW_PRIVATE_CALLBACKS`); a name "
                "is checked again on every delivery, against the address it resolves to then.",
            },
            "build_args": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {
                    "type": "object",
                    "maxProperties": job_form.MAX_BUILD_ARGS,
                    "propertyNames": {
                        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                        "maxLength": job_form.MAX_BUILD_ARG_NAME_CHARS,
                    },
                    "additionalProperties": {"type": "string"},
                },
                "description": "Optional JSON object of string to string, e.g. "
                f'`{{"VERSION": "1.2"}}`; at most {job_form.MAX_BUILD_ARGS} entries and '
                f"{job_form.MAX_BUILD_ARGS_BYTES // 1024} KiB; names are shell variable names.",
            },
        },
    }
