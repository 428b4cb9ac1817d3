"""Signal rules evaluated on consecutive bars' indicator values.

* ``rsi``: the RSI crosses below the oversold level -> BUY (prev >= level and
  cur < level); it crosses above the overbought level -> SELL (prev <= level
  and cur > level).  ``value`` is the RSI, ``reference`` the level.
* ``ema_cross``: the fast EMA crosses the slow EMA upwards -> BUY (prev
  fast - slow <= 0 and cur > 0), downwards -> SELL (prev >= 0 and cur < 0).
  ``value`` is the fast EMA, ``reference`` the slow EMA.
* ``macd_cross``: the MACD crosses its signal line, same convention.
  ``value`` is the MACD, ``reference`` the signal line.

A rule fires only if all values it needs are present (not ``None``) on both
bars.  Signals are returned in rule order: rsi, ema_cross, macd_cross.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.core.indicators import IndicatorValues

__all__ = ["BUY", "DOWN", "RULES", "SELL", "UP", "Signal", "SignalRules", "crossing", "detect_signals"]

BUY = "BUY"
SELL = "SELL"
RULES: tuple[str, ...] = ("rsi", "ema_cross", "macd_cross")

UP = 1
DOWN = -1


@dataclass(frozen=True, slots=True)
class SignalRules:
    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0


@dataclass(frozen=True, slots=True)
class Signal:
    rule: str  # "rsi" | "ema_cross" | "macd_cross"
    side: str  # "BUY" | "SELL"
    value: float  # the indicator value that fired it (rsi; ema_fast; macd)
    reference: float  # what it crossed (the threshold; ema_slow; macd_signal)


def crossing(prev_value, prev_reference, cur_value, cur_reference) -> int:
    """Direction in which ``value`` crossed ``reference`` between two bars.

    ``UP`` (1) if prev value <= prev reference and cur value > cur reference,
    ``DOWN`` (-1) if prev value >= prev reference and cur value < cur reference,
    else 0 -- also when any of the four is ``None`` (or NaN).
    Comparing ``a <= b`` is the same as ``a - b <= 0`` for floats.
    """
    if prev_value is None or prev_reference is None or cur_value is None or cur_reference is None:
        return 0
    if cur_value > cur_reference:
        return UP if prev_value <= prev_reference else 0
    if cur_value < cur_reference:
        return DOWN if prev_value >= prev_reference else 0
    return 0


def detect_signals(
    prev: IndicatorValues | None, cur: IndicatorValues, rules: SignalRules = SignalRules()
) -> list[Signal]:
    """Signals fired on bar ``cur`` given the previous bar's values ``prev``."""
    if prev is None:
        return []
    out: list[Signal] = []
    rsi = cur.rsi
    if rsi is not None:
        prev_rsi = prev.rsi
        level = rules.rsi_oversold
        if crossing(prev_rsi, level, rsi, level) == DOWN:
            out.append(Signal("rsi", BUY, rsi, float(level)))
        level = rules.rsi_overbought
        if crossing(prev_rsi, level, rsi, level) == UP:
            out.append(Signal("rsi", SELL, rsi, float(level)))
    fast = cur.ema_fast
    slow = cur.ema_slow
    if fast is not None and slow is not None:
        direction = crossing(prev.ema_fast, prev.ema_slow, fast, slow)
        if direction:
            out.append(Signal("ema_cross", BUY if direction == UP else SELL, fast, slow))
    macd = cur.macd
    signal = cur.macd_signal
    if macd is not None and signal is not None:
        direction = crossing(prev.macd, prev.macd_signal, macd, signal)
        if direction:
            out.append(Signal("macd_cross", BUY if direction == UP else SELL, macd, signal))
    return out
