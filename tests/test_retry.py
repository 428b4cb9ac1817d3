"""The one backoff rule: exponential, capped, with equal jitter, Retry-After as a floor."""
from __future__ import annotations

import random
import threading

import pytest

from services.retry import Backoff, retry


def test_delay_grows_with_jitter_is_capped_and_honours_retry_after() -> None:
    backoff = Backoff(0.1, 5.0, rng=random.Random(1))
    for attempt in range(1, 12):
        ceiling = min(5.0, 0.1 * 2 ** (attempt - 1))
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        assert len(set(delays)) > 100  # jitter
    assert backoff.delay(1, 2.0) >= 2.0
    assert backoff.delay(1, 60.0) == 5.0
    assert backoff.delay(1000) <= 5.0


def test_without_jitter_the_steps_are_exact() -> None:
    backoff = Backoff(1.0, 10.0, jitter=False)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_retry_waits_between_failures_and_returns_the_result() -> None:
    calls, waits = [], []
    stop = threading.Event()

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    result = retry(flaky, retry_on=(ConnectionError,), backoff=Backoff(0.001, 0.004, jitter=False), stop=stop,
                   on_retry=lambda exc, delay: waits.append((str(exc), delay)))
    assert result == "ok"
    assert waits == [("try 1", 0.001), ("try 2", 0.002), ("try 3", 0.004)]


def test_retry_stops_when_asked_and_lets_other_errors_through() -> None:
    stop = threading.Event()

    def failing() -> None:
        stop.set()  # asked to stop while failing: no further try
        raise ConnectionError("down")

    tries = []
    assert retry(lambda: tries.append(1) or failing(), retry_on=(ConnectionError,), backoff=Backoff(0.001, 0.001),
                 stop=stop, on_retry=lambda exc, delay: None) is None
    assert tries == [1]
    with pytest.raises(ValueError, match="bad"):
        retry(lambda: (_ for _ in ()).throw(ValueError("bad")), retry_on=(ConnectionError,),
              backoff=Backoff(0.001, 0.001), stop=threading.Event(), on_retry=lambda exc, delay: None)
