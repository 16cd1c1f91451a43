from __future__ import annotations

import pytest

from dccf.backoff import Backoff, retry


@pytest.mark.parametrize(
    ("failures", "longest"), [(1, 5.0), (2, 10.0), (3, 20.0), (6, 160.0), (7, 300.0), (50, 300.0)]
)
def test_doubles_up_to_the_cap_less_the_jitter(failures: int, longest: float) -> None:
    assert Backoff(5.0, 300.0, jitter=0.5, rng=lambda: 0.0).after(failures) == longest
    assert Backoff(5.0, 300.0, jitter=0.5, rng=lambda: 1.0).after(failures) == longest / 2


def test_survives_absurd_failure_counts() -> None:
    assert Backoff(1.0, 60.0).after(10**6) == 60.0


def test_delay_counts_failures_until_reset() -> None:
    backoff = Backoff(first=0.5, cap=2.0)
    assert [backoff.delay() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.delay() == 0.5


class Flaky:
    """Fails `failures` times with OSError, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(f"failure {self.calls}")
        return "done"


def test_retry_waits_by_the_backoff_until_the_action_succeeds() -> None:
    slept: list[float] = []
    seen: list[tuple[str, float]] = []
    action = Flaky(3)
    result = retry(
        action,
        on=OSError,
        backoff=Backoff(first=1.0, cap=3.0),
        on_failure=lambda exc, delay: seen.append((str(exc), delay)),
        sleep=slept.append,
    )
    assert (result, action.calls, slept) == ("done", 4, [1.0, 2.0, 3.0])
    assert seen == [("failure 1", 1.0), ("failure 2", 2.0), ("failure 3", 3.0)]


def test_retry_raises_the_failure_that_would_pass_the_deadline() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    action = Flaky(100)
    with pytest.raises(OSError, match="failure 4"):
        retry(
            action,
            on=OSError,
            backoff=Backoff(first=1.0, cap=2.0),
            deadline_seconds=6.0,
            sleep=sleep,
            clock=lambda: now[0],
        )
    # Waits of 1, 2 and 2 seconds fit in 6; the fourth failure would wait past it.
    assert (action.calls, now[0]) == (4, 5.0)


def test_retry_lets_other_errors_through_at_once() -> None:
    def broken() -> str:
        raise ValueError("not transient")

    with pytest.raises(ValueError, match="not transient"):
        retry(broken, on=OSError, backoff=Backoff(), sleep=lambda seconds: pytest.fail("slept"))
