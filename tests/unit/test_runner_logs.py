from __future__ import annotations

import pytest

from services.worker.logs import CappedLog, LogCapture, capture, dropped_line


def test_under_the_cap_everything_is_kept() -> None:
    assert capture([b"hello ", b"world\n"], 100) == CappedLog(b"hello world\n", 0)


def test_exactly_at_the_cap_nothing_is_dropped() -> None:
    assert capture([b"x" * 60, b"y" * 40], 100) == CappedLog(b"x" * 60 + b"y" * 40, 0)


def test_empty_stream() -> None:
    assert capture([], 100) == CappedLog(b"", 0)


@pytest.mark.parametrize("total", [101, 150, 1000, 10**6])
def test_past_the_cap_the_head_is_kept_and_the_drop_is_counted(total: int) -> None:
    cap = 100
    log = capture((b"a" for _ in range(total)), cap)
    marker = dropped_line(log.dropped)
    assert len(log.data) <= cap
    assert log.data.endswith(marker)
    kept = log.data[: -len(marker)]
    assert kept == b"a" * len(kept)
    assert len(kept) + log.dropped == total


def test_dropped_line_reads_well() -> None:
    assert dropped_line(12345) == b"\n[dccf: 12345 bytes dropped]\n"


def test_footer_survives_the_cap_after_the_dropped_line() -> None:
    log = LogCapture(100)
    log.feed(b"q" * 500)
    result = log.result(footer=b"the step failed\n")
    assert len(result.data) <= 100
    assert result.data.endswith(dropped_line(result.dropped) + b"the step failed\n")
    assert result.data.count(b"q") + result.dropped == 500


def test_footer_alone_fits_without_a_dropped_line() -> None:
    log = LogCapture(100)
    log.feed(b"step 1\n")
    assert log.result(footer=b"failed\n") == CappedLog(b"step 1\nfailed\n", 0)


def test_a_huge_chunk_is_cut_not_kept() -> None:
    log = LogCapture(10)
    log.feed(b"z" * 10_000_000)
    result = log.result()
    assert len(result.data) <= 10 or result.data == dropped_line(result.dropped)
    assert result.dropped + result.data.count(b"z") == 10_000_000
