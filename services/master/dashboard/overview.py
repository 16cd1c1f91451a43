"""The overview's numbers, read from Postgres for one principal (every replica agrees, and
the master keeps nothing in memory): the queue now, the last hour per minute."""

from __future__ import annotations

from dataclasses import dataclass

from dccf.db import Connection

MINUTES = 60


@dataclass(frozen=True)
class Minute:
    """One minute of the last hour; `ago` 0 is the current minute."""

    ago: int
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    wait_avg_seconds: float = 0.0
    wait_max_seconds: float = 0.0
    started: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled


@dataclass(frozen=True)
class Overview:
    queued: int
    oldest_queued_seconds: float | None
    running: int
    minutes: list[Minute]  # oldest first, MINUTES of them

    def total(self, field: str) -> int:
        return sum(getattr(m, field) for m in self.minutes)


def read(conn: Connection, principal: str) -> Overview:
    """Three index range scans (jobs_principal_active, _finished, _started)."""
    queued, oldest, running = conn.run(
        "SELECT count(*) FILTER (WHERE status = 'queued'),"
        " extract(epoch FROM now() - min(queued_at) FILTER (WHERE status = 'queued')),"
        " count(*) FILTER (WHERE status = 'running')"
        " FROM jobs WHERE principal = :p AND status IN ('queued', 'running')",
        p=principal,
    )[0]
    finished = conn.run(
        "SELECT floor(extract(epoch FROM now() - finished_at) / 60)::int AS ago,"
        " count(*) FILTER (WHERE status = 'succeeded'),"
        " count(*) FILTER (WHERE status = 'failed'),"
        " count(*) FILTER (WHERE status = 'cancelled')"
        " FROM jobs WHERE principal = :p AND finished_at > now() - interval '1 hour'"
        " GROUP BY ago",
        p=principal,
    )
    waits = conn.run(
        "SELECT floor(extract(epoch FROM now() - started_at) / 60)::int AS ago, count(*),"
        " avg(extract(epoch FROM started_at - queued_at)),"
        " max(extract(epoch FROM started_at - queued_at))"
        " FROM jobs WHERE principal = :p AND started_at > now() - interval '1 hour'"
        " GROUP BY ago",
        p=principal,
    )
    by_ago = {int(r[0]): r for r in finished}
    wait_by_ago = {int(r[0]): r for r in waits}
    minutes = []
    for ago in range(MINUTES - 1, -1, -1):
        done = by_ago.get(ago)
        wait = wait_by_ago.get(ago)
        minutes.append(
            Minute(
                ago=ago,
                succeeded=int(done[1]) if done else 0,
                failed=int(done[2]) if done else 0,
                cancelled=int(done[3]) if done else 0,
                started=int(wait[1]) if wait else 0,
                wait_avg_seconds=max(0.0, float(wait[2])) if wait else 0.0,
                wait_max_seconds=max(0.0, float(wait[3])) if wait else 0.0,
            )
        )
    return Overview(
        queued=int(queued),
        oldest_queued_seconds=float(oldest) if oldest is not None else None,
        running=int(running),
        minutes=minutes,
    )
