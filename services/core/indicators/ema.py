"""Exponential moving average, pandas' ``ewm(..., adjust=False).mean()`` step by step.

The EMA is also the building block of RSI (Wilder smoothing is an EMA with
``alpha = 1 / period``, ``Ema.wilder``) and of MACD (three EMAs).
"""

from __future__ import annotations

from typing import Any

from services.core.indicators.base import Indicator, require_keys
from services.core.validation import period as check_period

__all__ = ["Ema", "ewm_alpha_from_alpha", "ewm_alpha_from_span"]


def ewm_alpha_from_span(span: int) -> float:
    """The smoothing factor pandas uses for ``ewm(span=span)`` (via the centre of mass)."""
    com = float((span - 1) / 2)
    return 1.0 / (1.0 + com)


def ewm_alpha_from_alpha(alpha: float) -> float:
    """The smoothing factor pandas really uses for ``ewm(alpha=alpha)`` (via the centre of mass)."""
    com = float((1 - alpha) / alpha)
    return 1.0 / (1.0 + com)


class Ema(Indicator):
    """Exponential moving average, ``adjust=False``, seeded with the first value.

    pandas' ``ewm(span=period, min_periods=period, adjust=False).mean()``:
    ``avg = ((1 - a) * avg + a * x) / ((1 - a) + a)``, skipped when ``x``
    equals ``avg``.  ``update`` returns the average once ``period`` values
    have been seen, ``None`` before; ``value`` holds the same.
    """

    __slots__ = ("period", "value", "_alpha", "_beta", "_norm", "_avg", "_count")

    def __init__(self, period: int, alpha: float | None = None) -> None:
        """``alpha`` ``None``: the factor of ``ewm(span=period)``; otherwise the factor to use as it is."""
        self.period = check_period("period", period)
        self.value: float | None = None
        a = ewm_alpha_from_span(self.period) if alpha is None else alpha
        self._alpha = a
        self._beta = 1.0 - a  # pandas: old_wt = 1.0 * (1 - alpha)
        self._norm = self._beta + a  # pandas divides by (old_wt + new_wt), not always exactly 1.0
        self._avg = 0.0
        self._count = 0  # values seen, saturates at period

    @classmethod
    def wilder(cls, period: int) -> Ema:
        """Wilder's smoothing: pandas' ``ewm(alpha=1/period, min_periods=period, adjust=False)``."""
        period = check_period("period", period)
        return cls(period, ewm_alpha_from_alpha(1 / period))

    def update(self, x: float) -> float | None:
        n = self._count
        if n >= self.period:  # steady state
            w = self._avg
            if w != x:
                w = (self._beta * w + self._alpha * x) / self._norm
                self._avg = w
                self.value = w
            return w
        if n:
            w = self._avg
            if w != x:
                w = (self._beta * w + self._alpha * x) / self._norm
        else:
            w = x
        self._avg = w
        n += 1
        self._count = n
        if n >= self.period:
            self.value = w
            return w
        return None

    def to_state(self) -> dict[str, Any]:
        return {"avg": self._avg, "count": self._count}

    def load_state(self, state: dict[str, Any]) -> None:
        require_keys(state, ("avg", "count"), "Ema")
        self._avg = float(state["avg"])
        self._count = int(state["count"])
        self.value = self._avg if self._count >= self.period else None
