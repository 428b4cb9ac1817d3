"""Simple moving average: the mean of a rolling window."""

from __future__ import annotations

from services.core.indicators.rolling import RollingWindow

__all__ = ["Sma"]


class Sma(RollingWindow):
    """Simple moving average over ``period`` closes (``update`` returns it, or ``None``).

    pandas' ``rolling(period, min_periods=period).mean()``, see ``RollingWindow``.
    """

    __slots__ = ()

    def __init__(self, period: int) -> None:
        super().__init__(period, track_std=False)

    @property
    def value(self) -> float | None:
        return self.mean
