"""Relative strength index with Wilder smoothing, built from two EMAs."""

from __future__ import annotations

from typing import Any

from services.core.indicators.base import Indicator, require_keys
from services.core.indicators.ema import Ema
from services.core.validation import period as check_period

__all__ = ["Rsi"]


class Rsi(Indicator):
    """Relative strength index over ``period`` bars.

    pandas/``ta``: gains and losses are each smoothed with
    ``ewm(alpha=1/period, min_periods=period, adjust=False)`` -- an
    ``Ema.wilder(period)`` each; the first bar has no price change and counts
    as a 0 gain and a 0 loss, so the first RSI comes on bar ``period`` (index
    ``period - 1``).  RSI is ``100 - 100 / (1 + avg_gain / avg_loss)``, and
    100 whenever the average loss is 0 (even if the average gain is 0 as well).
    """

    __slots__ = ("period", "value", "_prev", "_gains", "_losses")

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period)
        self.value: float | None = None
        self._prev: float | None = None
        self._gains = Ema.wilder(self.period)
        self._losses = Ema.wilder(self.period)

    def update(self, x: float) -> float | None:
        prev = self._prev
        self._prev = x
        if prev is None:
            gain = loss = 0.0  # the first bar seeds both averages
        else:
            d = x - prev
            if d > 0.0:
                gain = d
                loss = 0.0
            elif d < 0.0:
                gain = 0.0
                loss = -d
            else:
                gain = loss = 0.0
        up = self._gains.update(gain)
        down = self._losses.update(loss)
        if up is None or down is None:  # both EMAs have seen the same number of bars: both warm, or neither
            return None
        rsi = 100.0 if down == 0.0 else 100.0 - 100.0 / (1.0 + up / down)
        self.value = rsi
        return rsi

    # The saved format predates building the RSI from two EMAs (README, "Processing guarantees":
    # states in symbol_state must stay readable): the averages are "up"/"down", with one "count".

    def to_state(self) -> dict[str, Any]:
        gains = self._gains.to_state()
        return {
            "prev": self._prev,
            "up": gains["avg"],
            "down": self._losses.to_state()["avg"],
            "count": gains["count"],
            "value": self.value,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        require_keys(state, ("prev", "up", "down", "count", "value"), "Rsi")
        self._prev = None if state["prev"] is None else float(state["prev"])
        self._gains.load_state({"avg": state["up"], "count": state["count"]})
        self._losses.load_state({"avg": state["down"], "count": state["count"]})
        self.value = None if state["value"] is None else float(state["value"])
