"""MACD: the difference of two EMAs, with an EMA of it as the signal line."""

from __future__ import annotations

from typing import Any

from services.core.indicators.base import Indicator, require_keys
from services.core.indicators.ema import Ema

__all__ = ["Macd"]


class Macd(Indicator):
    """MACD = EMA(fast) - EMA(slow); signal = EMA(signal) of the MACD; hist = MACD - signal.

    The MACD exists once both EMAs do (bar ``max(fast, slow)``); the signal
    EMA is seeded with that first MACD value, so it starts ``signal - 1``
    bars later (index 33 with 12/26/9).  ``update`` returns the MACD (or
    ``None``); ``macd``, ``signal``, ``hist`` and the EMAs ``fast``/``slow``
    hold the values of the latest bar.
    """

    __slots__ = ("fast", "slow", "signal_ema", "macd", "signal", "hist")

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        self.fast = Ema(fast)
        self.slow = Ema(slow)
        self.signal_ema = Ema(signal)
        self.macd: float | None = None
        self.signal: float | None = None
        self.hist: float | None = None

    def update(self, x: float) -> float | None:
        f = self.fast.update(x)
        s = self.slow.update(x)
        if f is None or s is None:
            return None
        m = f - s
        self.macd = m
        sig = self.signal_ema.update(m)
        if sig is not None:
            self.signal = sig
            self.hist = m - sig
        return m

    def to_state(self) -> dict[str, Any]:
        return {"fast": self.fast.to_state(), "slow": self.slow.to_state(), "signal": self.signal_ema.to_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        require_keys(state, ("fast", "slow", "signal"), "Macd")
        self.fast.load_state(state["fast"])
        self.slow.load_state(state["slow"])
        self.signal_ema.load_state(state["signal"])
        f, s = self.fast.value, self.slow.value
        self.macd = None if f is None or s is None else f - s
        self.signal = self.signal_ema.value
        self.hist = None if self.signal is None or self.macd is None else self.macd - self.signal
