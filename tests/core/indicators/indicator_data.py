"""Price series, parameters and helpers shared by the indicator tests (stream vs the pandas + ta reference)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from services.core.indicators import INDICATOR_COLUMNS, IndicatorEngine, IndicatorParams, IndicatorValues
from services.core.reference import compute_indicators

# (seed, start price, per-bar volatility): five "symbols" at different price levels
SYMBOLS = [
    (11, 10.0, 0.02),
    (12, 150.0, 0.01),
    (13, 3000.0, 0.004),
    (14, 0.75, 0.03),
    (15, 42_000.0, 0.008),
]
N_BARS = 6000

NON_DEFAULT = IndicatorParams(
    sma_period=5,
    ema_fast_period=3,
    ema_slow_period=7,
    rsi_period=6,
    macd_fast=5,
    macd_slow=13,
    macd_signal=4,
    bollinger_period=10,
    bollinger_k=1.5,
)
# non-default, but with the EMA/MACD and SMA/Bollinger periods shared
NON_DEFAULT_SHARED = IndicatorParams(
    sma_period=10,
    ema_fast_period=5,
    ema_slow_period=13,
    rsi_period=2,
    macd_fast=5,
    macd_slow=13,
    macd_signal=4,
    bollinger_period=10,
    bollinger_k=3.0,
)


def random_walk(seed: int, start: float, vol: float, n: int = N_BARS) -> list[float]:
    """Geometric random walk: strictly positive prices."""
    rng = np.random.default_rng(seed)
    return (start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))).tolist()


def spiky(n: int) -> list[float]:
    closes = random_walk(31, 50.0, 0.01, n)
    for i in (100, 101, 700, 1500):
        closes[i] *= 1e12  # bad ticks: catastrophic cancellation once they leave the window
    return closes


def stream(closes, params: IndicatorParams = IndicatorParams()) -> list[IndicatorValues]:
    engine = IndicatorEngine(params)
    return [engine.update(c) for c in closes]


def feed(indicator, closes) -> np.ndarray:
    """One indicator's ``update`` results over ``closes``, ``None`` as NaN."""
    return np.array([math.nan if (v := indicator.update(c)) is None else v for c in closes], dtype=np.float64)


def column(rows: list[IndicatorValues], name: str) -> np.ndarray:
    return np.array([math.nan if getattr(r, name) is None else getattr(r, name) for r in rows], dtype=np.float64)


def assert_matches_reference(rows: list[IndicatorValues], closes, params: IndicatorParams = IndicatorParams()) -> None:
    """Same NaN/None positions as ta, values within 1e-9 * max(1, |v|)."""
    ref = compute_indicators(pd.Series(closes, dtype=np.float64), params)
    assert list(ref.columns) == list(INDICATOR_COLUMNS)
    assert len(ref) == len(rows)
    for name in INDICATOR_COLUMNS:
        got = column(rows, name)
        expected = ref[name].to_numpy()
        missing = np.isnan(expected)
        np.testing.assert_array_equal(np.isnan(got), missing, err_msg=f"{name}: None positions differ from ta")
        diff = np.abs(got[~missing] - expected[~missing])
        tol = 1e-9 * np.maximum(1.0, np.abs(expected[~missing]))
        worst = int(np.argmax(diff - tol)) if diff.size else 0
        assert np.all(diff <= tol), f"{name}: |diff| {diff[worst]} > {tol[worst]}"


def first_index(rows: list[IndicatorValues], name: str) -> int | None:
    return next((i for i, r in enumerate(rows) if getattr(r, name) is not None), None)
