"""IndicatorValues: one bar's indicator values, and the column names derived from them."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["INDICATOR_COLUMNS", "IndicatorValues"]


class IndicatorValues(NamedTuple):
    """One bar's indicator values; ``None`` where the indicator has no value yet.

    A NamedTuple: immutable, compared and hashed by value, and cheap to build
    on the per-bar path (``IndicatorEngine.update``).  ``_asdict()`` gives the
    field -> value dict saved in a stream's state, ``IndicatorValues(**d)``
    reads it back.  The field order is the column order of the ``bars`` table.
    """

    sma: float | None
    ema_fast: float | None
    ema_slow: float | None
    rsi: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    bb_middle: float | None
    bb_upper: float | None
    bb_lower: float | None


INDICATOR_COLUMNS: tuple[str, ...] = IndicatorValues._fields
