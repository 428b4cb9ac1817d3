"""Signal rules: one table, evaluated per bar here and over whole frames in ``reference``.

Every rule is a crossing (``RULE_TABLE``): an indicator value crossing
another indicator (a line) or a threshold of ``SignalRules``, with the side a
crossing upwards and a crossing downwards signal.

* ``rsi``: the RSI crosses below the oversold level -> BUY (prev >= level and
  cur < level); it crosses above the overbought level -> SELL (prev <= level
  and cur > level).  ``value`` is the RSI, ``reference`` the level.
* ``ema_cross``: the fast EMA crosses the slow EMA upwards -> BUY (prev
  fast - slow <= 0 and cur > 0), downwards -> SELL (prev >= 0 and cur < 0).
  ``value`` is the fast EMA, ``reference`` the slow EMA.
* ``macd_cross``: the MACD crosses its signal line, same convention.
  ``value`` is the MACD, ``reference`` the signal line.

A rule fires only if all values it needs are present (not ``None``) on both
bars.  Signals are returned in table order: rsi, ema_cross, macd_cross.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from services.core.indicators import INDICATOR_COLUMNS, IndicatorValues
from services.core.validation import finite_number

__all__ = [
    "BUY", "DOWN", "RULES", "RULE_TABLE", "SELL", "UP",
    "CrossingRule", "Signal", "SignalRules", "crossing", "detect_signals",
]  # fmt: skip

BUY = "BUY"
SELL = "SELL"

UP = 1
DOWN = -1


@dataclass(frozen=True, slots=True)
class SignalRules:
    """The RSI levels: 0 <= ``rsi_oversold`` < ``rsi_overbought`` <= 100, finite numbers.

    This is the one place these rules live (``ValueError`` naming the field);
    the levels are stored as plain floats, the ``reference`` of RSI signals.
    """

    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0

    def __post_init__(self) -> None:
        for name in ("rsi_oversold", "rsi_overbought"):
            level = finite_number(name, getattr(self, name))
            if not 0.0 <= level <= 100.0:  # an RSI is in [0, 100]: a level outside never fires
                raise ValueError(f"{name} must be between 0 and 100, got {getattr(self, name)!r}")
            object.__setattr__(self, name, level)
        if not self.rsi_oversold < self.rsi_overbought:
            raise ValueError(
                f"rsi_oversold ({self.rsi_oversold}) must be below rsi_overbought ({self.rsi_overbought})"
            )


class CrossingRule(NamedTuple):
    """``value`` crossing ``line`` (another IndicatorValues field) or ``threshold`` (a SignalRules field)."""

    rule: str  # the name signals carry
    value: str  # IndicatorValues field
    line: str | None  # IndicatorValues field, or None when crossing a threshold
    threshold: str | None  # SignalRules field, or None when crossing a line
    up: str | None  # side of a crossing upwards, None: no signal
    down: str | None  # side of a crossing downwards, None: no signal

    def level(self, rules: SignalRules) -> float:
        """The threshold this rule crosses, from `rules` (a rule crossing a line has none)."""
        if self.threshold is None:
            raise ValueError(f"rule {self.rule} crosses the line {self.line}, not a threshold")
        return float(getattr(rules, self.threshold))


RULE_TABLE: tuple[CrossingRule, ...] = (
    CrossingRule("rsi", "rsi", line=None, threshold="rsi_oversold", up=None, down=BUY),
    CrossingRule("rsi", "rsi", line=None, threshold="rsi_overbought", up=SELL, down=None),
    CrossingRule("ema_cross", "ema_fast", line="ema_slow", threshold=None, up=BUY, down=SELL),
    CrossingRule("macd_cross", "macd", line="macd_signal", threshold=None, up=BUY, down=SELL),
)
RULES: tuple[str, ...] = tuple(dict.fromkeys(r.rule for r in RULE_TABLE))  # ("rsi", "ema_cross", "macd_cross")


@dataclass(frozen=True, slots=True)
class Signal:
    rule: str  # "rsi" | "ema_cross" | "macd_cross"
    side: str  # "BUY" | "SELL"
    value: float  # the indicator value that fired it (rsi; ema_fast; macd)
    reference: float  # what it crossed (the threshold; ema_slow; macd_signal)


def crossing(prev_value: float | None, prev_reference: float | None, cur_value: float | None,
             cur_reference: float | None) -> int:
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


# RULE_TABLE with field names turned into tuple positions, for the per-bar loop (IndicatorValues
# is a tuple: indexing is cheaper than looking attributes up by name).
_CHECKS = tuple(
    (
        r.rule,
        INDICATOR_COLUMNS.index(r.value),
        None if r.line is None else INDICATOR_COLUMNS.index(r.line),
        r.threshold or "",  # a SignalRules field; a rule crossing a line has none
        r.up,
        r.down,
    )
    for r in RULE_TABLE
)


def detect_signals(
    prev: IndicatorValues | None, cur: IndicatorValues, rules: SignalRules = SignalRules()
) -> list[Signal]:
    """Signals fired on bar ``cur`` given the previous bar's values ``prev``: ``crossing`` per rule."""
    if prev is None:
        return []
    out: list[Signal] = []
    for rule, value_at, line_at, threshold, up, down in _CHECKS:
        value = cur[value_at]
        if value is None:
            continue
        if line_at is None:
            reference = prev_reference = getattr(rules, threshold)
        else:
            reference = cur[line_at]
            prev_reference = prev[line_at]
        # crossing(), inlined: a call per rule and bar would cost more than the rest of the loop
        if reference is None or prev_reference is None:
            continue
        prev_value = prev[value_at]
        if prev_value is None:
            continue
        if value > reference:
            if up is not None and prev_value <= prev_reference:
                out.append(Signal(rule, up, value, reference))
        elif value < reference:
            if down is not None and prev_value >= prev_reference:
                out.append(Signal(rule, down, value, reference))
    return out
