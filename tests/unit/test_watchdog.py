from __future__ import annotations

import threading
import time

from services.worker.watchdog import watch


def test_a_stalled_loop_is_reported_once() -> None:
    stalled: list[float] = []
    done = threading.Event()
    started = time.monotonic()

    def on_stall(seconds: float) -> None:
        stalled.append(seconds)
        done.set()

    watch(lambda: started, limit_seconds=0.2, on_stall=on_stall, check_every=0.02)
    assert done.wait(5)
    time.sleep(0.1)
    assert len(stalled) == 1 and stalled[0] > 0.2


def test_a_moving_loop_is_left_alone() -> None:
    stalled: list[float] = []
    stop = watch(time.monotonic, limit_seconds=0.1, on_stall=stalled.append, check_every=0.02)
    time.sleep(0.3)
    stop.set()
    assert stalled == []
