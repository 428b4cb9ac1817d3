"""IndicatorParams: the periods of every indicator and the width of the Bollinger bands.

This is the one place their rules live; whoever builds the parameters (the
processor from its settings, the DAGs, tests) gets the same checks:

* every period (``*_period``, ``macd_fast``, ``macd_slow``, ``macd_signal``)
  is an int >= 1 -- numpy integers are accepted, bools and floats are not;
* ``bollinger_k`` is a finite number > 0 (bools and strings are refused).

A violation raises ``ValueError`` naming the field.  Values are stored as
plain ``int``/``float``, so ``asdict(params)`` is JSON and compares equal to
the params saved inside ``IndicatorEngine.to_state()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.core.validation import period, positive_number

__all__ = ["IndicatorParams", "PERIOD_FIELDS"]

PERIOD_FIELDS: tuple[str, ...] = (
    "sma_period", "ema_fast_period", "ema_slow_period", "rsi_period",
    "macd_fast", "macd_slow", "macd_signal", "bollinger_period",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    sma_period: int = 20
    ema_fast_period: int = 12
    ema_slow_period: int = 26
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bollinger_period: int = 20
    bollinger_k: float = 2.0

    def __post_init__(self) -> None:
        for name in PERIOD_FIELDS:
            object.__setattr__(self, name, period(name, getattr(self, name)))
        object.__setattr__(self, "bollinger_k", positive_number("bollinger_k", self.bollinger_k))
