"""Batch reference implementation of the indicators and signals (pandas + ``ta``).

This is the specification the streaming engine (``services.core.indicators``)
is tested against, and what backfill / reconciliation jobs use to recompute a
whole series at once.  Indicators come straight from the ``ta`` library with
``fillna=False``; signals are the vectorised form of
``services.core.signals.detect_signals``: both evaluate
``services.core.signals.RULE_TABLE``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ta.momentum import RSIIndicator
from ta.trend import MACD, ema_indicator, sma_indicator
from ta.volatility import BollingerBands

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.signals import RULE_TABLE, SignalRules
from services.core.timeframes import Timeframe

__all__ = ["SIGNAL_COLUMNS", "compute_indicators", "compute_signals", "roll_up"]

SIGNAL_COLUMNS: tuple[str, ...] = ("position", "rule", "side", "value", "reference")


def compute_indicators(closes: pd.Series, params: IndicatorParams = IndicatorParams()) -> pd.DataFrame:
    """All indicators of one price series, computed with ``ta`` (``fillna=False``).

    Returns a float64 frame with columns ``INDICATOR_COLUMNS`` and the index of
    ``closes``; NaN where an indicator has no value yet.
    """
    if not isinstance(closes, pd.Series):
        closes = pd.Series(closes)
    # compute on a RangeIndex: ta combines series by label, which a duplicate or odd index could upset
    close = pd.Series(np.asarray(closes, dtype=np.float64))
    macd = MACD(
        close,
        window_slow=params.macd_slow,
        window_fast=params.macd_fast,
        window_sign=params.macd_signal,
        fillna=False,
    )
    bb = BollingerBands(close, window=params.bollinger_period, window_dev=params.bollinger_k, fillna=False)
    columns = {
        "sma": sma_indicator(close, window=params.sma_period, fillna=False),
        "ema_fast": ema_indicator(close, window=params.ema_fast_period, fillna=False),
        "ema_slow": ema_indicator(close, window=params.ema_slow_period, fillna=False),
        "rsi": RSIIndicator(close, window=params.rsi_period, fillna=False).rsi(),
        "macd": macd.macd(),
        "macd_signal": macd.macd_signal(),
        "macd_hist": macd.macd_diff(),
        "bb_middle": bb.bollinger_mavg(),
        "bb_upper": bb.bollinger_hband(),
        "bb_lower": bb.bollinger_lband(),
    }
    assert tuple(columns) == INDICATOR_COLUMNS
    return pd.DataFrame(
        {name: np.asarray(series, dtype=np.float64) for name, series in columns.items()},
        index=closes.index,
        columns=list(INDICATOR_COLUMNS),
    )


def _crossings(value: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``signals.crossing``: masks of bars where ``value`` crossed ``reference`` up / down.

    Up: previous value <= previous reference and value > reference; down:
    previous value >= previous reference and value < reference.  A NaN among
    the four numbers means no crossing (NaN compares False), as ``None`` does
    in ``crossing``.  Row 0 has no previous bar.
    """
    n = len(value)
    up = np.zeros(n, dtype=bool)
    down = np.zeros(n, dtype=bool)
    if n > 1:
        pv, pr, cv, cr = value[:-1], reference[:-1], value[1:], reference[1:]
        up[1:] = (pv <= pr) & (cv > cr)
        down[1:] = (pv >= pr) & (cv < cr)
    return up, down


def compute_signals(frame: pd.DataFrame, rules: SignalRules = SignalRules()) -> pd.DataFrame:
    """Signals over an indicator frame (as returned by ``compute_indicators``).

    Same semantics as ``detect_signals(prev, cur, rules)`` for every pair of
    consecutive rows.  Returns one row per signal with columns ``position``
    (0-based row position in ``frame``), ``rule``, ``side``, ``value``,
    ``reference``, ordered by position, then in ``detect_signals`` order
    (rsi, ema_cross, macd_cross: ``RULE_TABLE``); RangeIndex.  Map positions back to labels
    with ``frame.index[result["position"]]``.
    """
    n = len(frame)

    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)

    # (rule, side, fired, value, reference): each table rule's upward side, then its downward
    # side, in table order -- the order in which detect_signals appends them
    specs = []
    for rule in RULE_TABLE:
        value = column(rule.value)
        if rule.line is None:
            reference = np.full(n, rule.level(rules))
        else:
            reference = column(rule.line)
        up, down = _crossings(value, reference)
        if rule.up is not None:
            specs.append((rule.rule, rule.up, up, value, reference))
        if rule.down is not None:
            specs.append((rule.rule, rule.down, down, value, reference))
    picks = [np.flatnonzero(fired) for _, _, fired, _, _ in specs]
    position = np.concatenate(picks).astype(np.int64)
    order = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(picks)])
    sort = np.lexsort((order, position))
    spec_of = order[sort]
    return pd.DataFrame(
        {
            "position": position[sort],
            "rule": np.array([s[0] for s in specs], dtype=object)[spec_of],
            "side": np.array([s[1] for s in specs], dtype=object)[spec_of],
            "value": np.concatenate([s[3][p] for s, p in zip(specs, picks)])[sort],
            "reference": np.concatenate([s[4][p] for s, p in zip(specs, picks)])[sort],
        },
        columns=list(SIGNAL_COLUMNS),
    )


def _sum_in_order(values: pd.Series) -> float:
    return float(np.cumsum(values.to_numpy())[-1]) if len(values) else 0.0


def roll_up(base: pd.DataFrame, timeframe: Timeframe) -> pd.DataFrame:
    """The candles of `timeframe` the stream has closed after the base bars `base`.

    `base`: one symbol's base bars oldest first, columns ``ts`` (epoch seconds), ``open``,
    ``high``, ``low``, ``close``, ``volume``. They are grouped by the window that holds them, its
    start aligned to the UTC epoch and computed on whole microseconds as `Timeframe.window_start`
    does (what pandas' resample with ``origin="epoch"``, left-closed and left-labelled gives, but
    without materialising the empty windows of sparse history: twelve years of monthly bars are six
    million empty minutes). The last window is dropped: it is still forming until a base bar of a
    later window arrives. Columns: ``ts`` (window start, epoch seconds), ``open``, ``high``,
    ``low``, ``close``, ``volume``, ``base_bars``.
    """
    micros = np.round(base["ts"].to_numpy(dtype=float) * 1e6).astype("int64")
    step = timeframe.seconds * 1_000_000
    frame = base[["open", "high", "low", "close"]].assign(
        window=micros - micros % step, volume=base["volume"].to_numpy(dtype="float64"))
    # volume: float64 added in arrival order, as the stream adds it (pandas' own sum compensates
    # rounding, so it can differ from the stream in the last bit once volumes are fractional)
    candles = frame.groupby("window", sort=True).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", _sum_in_order), base_bars=("open", "size")).iloc[:-1]
    starts = candles.index.to_numpy(dtype="int64") / 1e6
    return candles.reset_index(drop=True).assign(ts=starts, base_bars=candles["base_bars"].to_numpy(dtype="int64"))[
        ["ts", "open", "high", "low", "close", "volume", "base_bars"]]
