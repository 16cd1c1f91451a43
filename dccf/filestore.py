"""Job files (build contexts and outputs) stored in Postgres as numbered 1 MiB chunks.

Writing streams chunk by chunk and reading fetches one chunk per query, so neither side
ever holds a whole file in memory (pg8000 always buffers a full result set).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from dccf.db import Connection, Pool

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    id: int
    path: str
    size: int
    sha256: str


def store(conn: Connection, job_id: int, kind: str, path: str, stream: IO[bytes]) -> StoredFile:
    """Copy `stream` into the job's files inside the caller's transaction."""
    first = stream.read(CHUNK_BYTES)
    second = stream.read(CHUNK_BYTES) if len(first) == CHUNK_BYTES else b""
    if not second:
        # The common small file: one round trip.
        digest = hashlib.sha256(first).hexdigest()
        rows = conn.run(
            "WITH f AS (INSERT INTO files (job_id, kind, path, size, sha256)"
            " VALUES (:job, :kind, :path, :size, :sha) RETURNING id)"
            " INSERT INTO file_chunks (file_id, seq, data) SELECT id, 0, :data FROM f"
            " RETURNING file_id",
            job=job_id,
            kind=kind,
            path=path,
            size=len(first),
            sha=digest,
            data=first,
        )
        return StoredFile(int(rows[0][0]), path, len(first), digest)

    file_id = int(
        conn.run(
            "INSERT INTO files (job_id, kind, path, size, sha256)"
            " VALUES (:job, :kind, :path, 0, '') RETURNING id",
            job=job_id,
            kind=kind,
            path=path,
        )[0][0]
    )
    hasher = hashlib.sha256()
    size = 0
    seq = 0
    chunk = first
    pending = second
    while chunk:
        hasher.update(chunk)
        size += len(chunk)
        conn.run(
            "INSERT INTO file_chunks (file_id, seq, data) VALUES (:id, :seq, :data)",
            id=file_id,
            seq=seq,
            data=chunk,
        )
        seq += 1
        chunk, pending = pending, (stream.read(CHUNK_BYTES) if pending else b"")
    digest = hasher.hexdigest()
    conn.run(
        "UPDATE files SET size = :size, sha256 = :sha WHERE id = :id",
        size=size,
        sha=digest,
        id=file_id,
    )
    return StoredFile(file_id, path, size, digest)


def listing(conn: Connection, job_id: int, kind: str) -> list[StoredFile]:
    rows = conn.run(
        "SELECT id, path, size, sha256 FROM files WHERE job_id = :job AND kind = :kind"
        " ORDER BY path",
        job=job_id,
        kind=kind,
    )
    return [StoredFile(int(r[0]), r[1], int(r[2]), r[3]) for r in rows]


def find(conn: Connection, job_id: int, kind: str, path: str) -> StoredFile | None:
    rows = conn.run(
        "SELECT id, path, size, sha256 FROM files"
        " WHERE job_id = :job AND kind = :kind AND path = :path",
        job=job_id,
        kind=kind,
        path=path,
    )
    return StoredFile(int(rows[0][0]), rows[0][1], int(rows[0][2]), rows[0][3]) if rows else None


def chunks(pool: Pool, file_id: int) -> Iterator[bytes]:
    """Yield a file's bytes, borrowing a connection per chunk so a slow reader pins none."""
    seq = 0
    while True:
        with pool.connection() as conn:
            rows = conn.run(
                "SELECT data FROM file_chunks WHERE file_id = :id AND seq = :seq",
                id=file_id,
                seq=seq,
            )
        if not rows:
            return
        yield bytes(rows[0][0])
        seq += 1


def copy(conn: Connection, from_job: int, to_job: int, kind: str) -> int:
    """Copy one job's files of `kind` to another inside Postgres (no bytes pass through the
    caller); returns how many files were copied."""
    rows = conn.run(
        "WITH src AS (SELECT id, path, size, sha256 FROM files"
        " WHERE job_id = :src_job AND kind = :kind),"
        " ins AS (INSERT INTO files (job_id, kind, path, size, sha256)"
        " SELECT :dst_job, :kind, path, size, sha256 FROM src RETURNING id, path),"
        " data AS (INSERT INTO file_chunks (file_id, seq, data)"
        " SELECT ins.id, c.seq, c.data FROM ins JOIN src USING (path)"
        " JOIN file_chunks c ON c.file_id = src.id)"
        " SELECT count(*) FROM ins",
        src_job=from_job,
        dst_job=to_job,
        kind=kind,
    )
    return int(rows[0][0])
