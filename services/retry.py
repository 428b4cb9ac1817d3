"""Capped exponential backoff, the one rule every retry loop in Tickflow waits by.

Try n waits `base * 2^(n-1)`, never more than `cap`. With jitter ("equal jitter") the wait is
drawn from the upper half of that, so many clients that failed together do not all come back in
the same instant, yet none retries sooner than half its step. A server's `Retry-After` is a floor.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    base: float
    cap: float
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0  # failed tries since the last reset()

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1, 2, ...)."""
        ceiling = min(self.cap, self.base * 2 ** min(max(attempt, 1) - 1, 60))
        wait: float = ceiling / 2 + self.rng.uniform(0, ceiling / 2) if self.jitter else ceiling
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.cap, wait)

    def next(self, retry_after: float | None = None) -> float:
        """Count one more failed try and return how long to wait before the next."""
        self.attempt += 1
        return self.delay(self.attempt, retry_after)

    def reset(self) -> None:
        """After a success: the next failure starts again from `base`."""
        self.attempt = 0


def retry(
    call: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff,
    stop: threading.Event,
    on_retry: Callable[[BaseException, float], None],
) -> T | None:
    """`call()` until it returns, waiting `backoff` after each exception in `retry_on` (after
    `on_retry(exc, delay)` has logged it). None once `stop` is set; other exceptions propagate."""
    backoff.reset()
    while not stop.is_set():
        try:
            return call()
        except retry_on as exc:
            delay = backoff.next()
            on_retry(exc, delay)
            stop.wait(delay)
    return None
