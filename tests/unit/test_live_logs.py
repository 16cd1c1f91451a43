"""A running job's logs: followed while it runs, replaced by a whole reading once it exits."""

from __future__ import annotations

from dccf.jobs import LogStream
from services.worker.live_logs import LiveLogs
from services.worker.logs import CappedLog, dropped_line


def test_changed_gives_each_fed_stream_once() -> None:
    logs = LiveLogs(cap_bytes=100)
    logs.feed(LogStream.STDOUT, b"one\n")
    logs.feed(LogStream.STDOUT, b"two\n")
    assert logs.changed() == {LogStream.STDOUT: CappedLog(b"one\ntwo\n", 0)}
    assert logs.changed() == {}
    logs.unstored([LogStream.STDOUT])
    assert logs.changed() == {LogStream.STDOUT: CappedLog(b"one\ntwo\n", 0)}


def test_settling_replaces_what_was_followed_and_later_chunks_are_ignored() -> None:
    logs = LiveLogs(cap_bytes=40)
    logs.feed(LogStream.STDERR, b"part")
    logs.changed()
    logs.settle(LogStream.STDERR, [b"0123456789", b"abcdef"])
    logs.feed(LogStream.STDERR, b"a late chunk from a lagging follower")
    assert logs.result(LogStream.STDERR) == CappedLog(b"0123456789abcdef", 0)
    assert logs.changed() == {LogStream.STDERR: CappedLog(b"0123456789abcdef", 0)}


def test_a_settled_stream_counts_everything_it_drops() -> None:
    logs = LiveLogs(cap_bytes=40)
    logs.settle(LogStream.STDOUT, [b"x" * 1000, b"y" * 1000])
    final = logs.result(LogStream.STDOUT)
    assert final.data.endswith(dropped_line(final.dropped))
    assert final.dropped + final.data.index(b"\n[dccf") == 2000
