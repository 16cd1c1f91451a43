"""The master's limits as the unit tests of its request parsing assume them (the defaults of
API.md, spelled out so that a changed default does not change what a test checks)."""

from __future__ import annotations

from dccf import settings

MIB = 1024 * 1024

LIMITS = settings.Limits(
    default_timeout_seconds=3600,
    max_timeout_seconds=86400,
    default_memory_mb=512,
    max_memory_mb=8192,
    default_cpus=1.0,
    max_cpus=4.0,
    allow_bridge_network=False,
    pids=512,
    max_upload_bytes=100 * MIB,
    max_output_bytes=100 * MIB,
    log_cap_bytes=MIB,
)
