"""The workers registry: each worker records itself every few seconds, the master lists them.

A worker's state is computed when read, from its last heartbeat against a threshold, so a
worker killed without a word shows as lost without anyone having to notice it. What a worker
runs is read from the jobs table (`status='running' AND worker=<id>`), never stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dccf.db import Connection


class WorkerState(StrEnum):
    ALIVE = "alive"
    LOST = "lost"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker says of itself in each heartbeat."""

    id: str
    host: str
    version: str
    slots: int
    started_at: datetime


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    host: str
    version: str
    slots: int
    state: WorkerState
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    jobs: list[int]


def heartbeat(conn: Connection, info: WorkerInfo) -> None:
    """Record the worker as alive now; a restarted worker of the same id starts afresh."""
    conn.run(
        "INSERT INTO workers (id, host, version, slots, started_at, last_seen)"
        " VALUES (:id, :host, :version, :slots, :started, now())"
        " ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, version = EXCLUDED.version,"
        " slots = EXCLUDED.slots, started_at = EXCLUDED.started_at, last_seen = now(),"
        " stopped_at = NULL",
        id=info.id,
        host=info.host,
        version=info.version,
        slots=info.slots,
        started=info.started_at,
    )


def leave(conn: Connection, worker_id: str) -> None:
    """A clean stop: the worker shows as stopped, not lost."""
    conn.run(
        "UPDATE workers SET stopped_at = now(), last_seen = now() WHERE id = :id", id=worker_id
    )


def listing(conn: Connection, lost_after_seconds: int, principal: str | None) -> list[WorkerRecord]:
    """Every known worker by id; `jobs` holds only `principal`'s running jobs (None: all)."""
    rows = conn.run(
        "SELECT w.id, w.host, w.version, w.slots, w.started_at, w.last_seen, w.stopped_at,"
        " CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'"
        " WHEN w.last_seen < now() - make_interval(secs => :lost) THEN 'lost'"
        " ELSE 'alive' END,"
        " ARRAY(SELECT j.id FROM jobs j WHERE j.status = 'running' AND j.worker = w.id"
        " AND (CAST(:principal AS text) IS NULL OR j.principal = :principal) ORDER BY j.id)"
        " FROM workers w ORDER BY w.id",
        lost=lost_after_seconds,
        principal=principal,
    )
    return [
        WorkerRecord(
            id=r[0],
            host=r[1],
            version=r[2],
            slots=int(r[3]),
            started_at=r[4],
            last_seen=r[5],
            stopped_at=r[6],
            state=WorkerState(r[7]),
            jobs=[int(j) for j in r[8] or []],
        )
        for r in rows
    ]


def prune(conn: Connection, forget_after_hours: int) -> int:
    """Forget workers not seen for that long (stopped or lost); returns how many."""
    rows = conn.run(
        "DELETE FROM workers WHERE last_seen < now() - make_interval(hours => :hours) RETURNING id",
        hours=forget_after_hours,
    )
    return len(rows)
