"""Bollinger bands: a rolling window's mean +/- k population standard deviations."""

from __future__ import annotations

from services.core.indicators.rolling import RollingWindow
from services.core.validation import positive_number

__all__ = ["Bollinger"]


class Bollinger(RollingWindow):
    """Bollinger bands over ``period`` closes, ``k`` deviations wide (``k`` > 0).

    ``update`` returns the middle band (or ``None``); ``upper``/``lower`` are
    ``mean + k * std`` and ``mean - k * std`` (``ta``'s arithmetic, with the
    population deviation of pandas' ``rolling().std(ddof=0)``).
    """

    __slots__ = ("k",)

    def __init__(self, period: int, k: float) -> None:
        super().__init__(period, track_std=True)
        self.k = positive_number("k", k)

    @property
    def middle(self) -> float | None:
        return self.mean

    @property
    def upper(self) -> float | None:
        return None if self.mean is None or self.std is None else self.mean + self.k * self.std

    @property
    def lower(self) -> float | None:
        return None if self.mean is None or self.std is None else self.mean - self.k * self.std
