"""IndicatorEngine: every indicator of one symbol, fed one close per bar."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.core.indicators.bollinger import Bollinger
from services.core.indicators.ema import Ema
from services.core.indicators.macd import Macd
from services.core.indicators.params import IndicatorParams
from services.core.indicators.rsi import Rsi
from services.core.indicators.sma import Sma
from services.core.indicators.values import IndicatorValues

__all__ = ["STATE_VERSION", "IndicatorEngine"]

# The format of to_state(); states saved in PostgreSQL (symbol_state) by every release so far are
# version 1, and must keep loading.
STATE_VERSION = 1

# IndicatorValues(...) runs the NamedTuple's __new__, a Python function; tuple.__new__ builds the
# same instance in C, in about half the time -- it is called once per bar.
_new_tuple = tuple.__new__


class IndicatorEngine:
    """All indicators of one symbol, O(1) per update.

    When the crossover EMAs have the MACD's fast/slow periods (the default),
    or the SMA has the Bollinger period (the default), the engine computes
    them once; the arithmetic is the same either way, so results are
    identical.
    """

    __slots__ = ("params", "_macd", "_ema_fast", "_ema_slow", "_bb", "_bb_k", "_sma", "_rsi")

    def __init__(self, params: IndicatorParams = IndicatorParams()) -> None:
        self.params = params
        self._macd = Macd(params.macd_fast, params.macd_slow, params.macd_signal)
        # None: shared with the MACD
        self._ema_fast = None if params.ema_fast_period == params.macd_fast else Ema(params.ema_fast_period)
        self._ema_slow = None if params.ema_slow_period == params.macd_slow else Ema(params.ema_slow_period)
        self._bb = Bollinger(params.bollinger_period, params.bollinger_k)
        self._bb_k = self._bb.k
        # None: shared with the Bollinger middle band
        self._sma = None if params.sma_period == params.bollinger_period else Sma(params.sma_period)
        self._rsi = Rsi(params.rsi_period)

    def update(self, close: float) -> IndicatorValues:
        """Feed one closing price; return that bar's indicator values."""
        close = float(close)
        if close - close != 0.0:  # NaN or +-inf
            raise ValueError(f"close must be a finite number, got {close!r}")

        macd_ind = self._macd
        macd = macd_ind.update(close)
        ema = self._ema_fast
        ema_fast = macd_ind.fast.value if ema is None else ema.update(close)
        ema = self._ema_slow
        ema_slow = macd_ind.slow.value if ema is None else ema.update(close)
        if macd is None:
            macd_signal = macd_hist = None
        else:
            macd_signal = macd_ind.signal
            macd_hist = macd_ind.hist

        bb = self._bb
        bb_middle = bb.update(close)
        bb_std = bb.std
        if bb_middle is None or bb_std is None:
            bb_upper = bb_lower = None
        else:
            d = self._bb_k * bb_std
            bb_upper = bb_middle + d
            bb_lower = bb_middle - d
        sma_ind = self._sma
        sma = bb_middle if sma_ind is None else sma_ind.update(close)

        rsi = self._rsi.update(close)
        return _new_tuple(
            IndicatorValues, (sma, ema_fast, ema_slow, rsi, macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower)
        )

    def to_state(self) -> dict[str, Any]:
        """Complete engine state as plain JSON types (dict/list/float/int/None)."""
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "params": asdict(self.params),
            "macd": self._macd.to_state(),
            "bollinger": self._bb.to_state(),
            "rsi": self._rsi.to_state(),
        }
        if self._ema_fast is not None:
            state["ema_fast"] = self._ema_fast.to_state()
        if self._ema_slow is not None:
            state["ema_slow"] = self._ema_slow.to_state()
        if self._sma is not None:
            state["sma"] = self._sma.to_state()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], params: IndicatorParams) -> "IndicatorEngine":
        """Rebuild an engine from ``to_state()`` output; it continues bit-identically.

        Raises ``ValueError`` if the state has another version, was saved with
        different parameters, or lacks parts.
        """
        if not isinstance(state, dict):
            raise ValueError(f"indicator state must be a dict, got {type(state).__name__}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported indicator state version {state.get('version')!r}")
        if state.get("params") != asdict(params):
            raise ValueError(f"indicator state was saved with params {state.get('params')}, not {asdict(params)}")
        engine = cls(params)
        try:
            engine._macd.load_state(state["macd"])
            engine._bb.load_state(state["bollinger"])
            engine._rsi.load_state(state["rsi"])
            if engine._ema_fast is not None:
                engine._ema_fast.load_state(state["ema_fast"])
            if engine._ema_slow is not None:
                engine._ema_slow.load_state(state["ema_slow"])
            if engine._sma is not None:
                engine._sma.load_state(state["sma"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete indicator state: {exc!r}") from exc
        return engine
