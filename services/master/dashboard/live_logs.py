"""Following a job's logs as the worker stores them: only the bytes not sent yet are read.

The worker keeps each stream's row in `job_logs` holding everything so far (capped), so a
stream only grows until the cap is reached. Then its tail is replaced by the "bytes dropped"
line, which shows as a shorter row or a changed `dropped` count: that stream is sent again,
whole, as a reset.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from dccf.db import Connection
from dccf.jobs import LogStream


@dataclass(frozen=True)
class LogUpdate:
    stream: LogStream
    text: str
    reset: bool


@dataclass
class _Cursor:
    sent: int = 0
    dropped: int = 0
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )


class LogFollower:
    """One follower per open log view; holds offsets, never the logs themselves."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self._cursors = {stream: _Cursor() for stream in LogStream}

    def read(self, conn: Connection, final: bool = False) -> list[LogUpdate]:
        """What was stored since the last read. `final`: the job has ended, so a character
        cut at the end of the stored bytes is flushed as a replacement mark."""
        offsets = {str(s): c.sent for s, c in self._cursors.items()}
        rows = conn.run(
            "SELECT stream, octet_length(data), dropped, substring(data FROM"
            " (CASE stream WHEN 'build' THEN CAST(:build AS int)"
            " WHEN 'stdout' THEN CAST(:stdout AS int) ELSE CAST(:stderr AS int) END) + 1)"
            " FROM job_logs WHERE job_id = :id",
            id=self.job_id,
            **offsets,
        )
        updates = []
        for name, length, dropped, tail in rows:
            stream = LogStream(name)
            cursor = self._cursors[stream]
            if int(length) < cursor.sent or int(dropped) != cursor.dropped:
                self._cursors[stream] = cursor = _Cursor(dropped=int(dropped))
                whole = conn.run(
                    "SELECT data FROM job_logs WHERE job_id = :id AND stream = :kind",
                    id=self.job_id,
                    kind=name,
                )
                data = bytes(whole[0][0]) if whole else b""
                cursor.sent = len(data)
                updates.append(LogUpdate(stream, cursor.decoder.decode(data, final), True))
                continue
            data = bytes(tail or b"")
            if not data and not final:
                continue
            cursor.sent += len(data)
            text = cursor.decoder.decode(data, final)
            if text:
                updates.append(LogUpdate(stream, text, False))
        return updates
