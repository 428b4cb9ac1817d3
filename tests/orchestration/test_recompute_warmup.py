"""The warm-up makes pandas + ta over a slice of history agree with the stream over all of it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.core.indicators import INDICATOR_COLUMNS, IndicatorEngine, IndicatorParams
from services.core.reference import compute_indicators
from services.core.simulation import MarketSimulator, is_candle
from services.orchestration.indicators.recompute import differs, warmup_bars

N = 4000


@pytest.fixture(scope="module")
def series() -> tuple[np.ndarray, np.ndarray]:
    """Closes of one simulated symbol and the streaming engine's values on them."""
    sim = MarketSimulator(["TSLA"], 5, 1_700_000_000.0, 1.0)
    closes = np.array([next(r for r in tick if is_candle(r))["closing_price"] for tick in sim.stream(N)])
    engine = IndicatorEngine(IndicatorParams())
    updates = [engine.update(c) for c in closes]
    values = np.array([[np.nan if (v := getattr(u, col)) is None else v for col in INDICATOR_COLUMNS] for u in updates])
    return closes, values


def batch_from(closes: np.ndarray, start: int, warmup: int) -> np.ndarray:
    """pandas + ta on closes[start - warmup:], the rows from `start` on."""
    first = max(0, start - warmup)
    return compute_indicators(pd.Series(closes[first:])).to_numpy()[start - first:]


def test_warmup_covers_every_indicator_s_memory() -> None:
    default = warmup_bars()
    assert 700 < default < 900  # EMA(26) / Wilder RSI(14) need ~550 bars to forget their start, MACD's signal ~190
    assert warmup_bars(IndicatorParams(ema_slow_period=50, macd_slow=50)) > default
    assert warmup_bars(IndicatorParams(rsi_period=30)) > default


@pytest.mark.parametrize("start", [0, 1, 33, 400, 900, 2500, N - 1])
def test_values_after_the_warmup_equal_the_stream(series: tuple[np.ndarray, np.ndarray], start: int) -> None:
    closes, stream = series
    got = batch_from(closes, start, warmup_bars())
    want = stream[start:]
    assert not differs(got, want, 1e-9).any()
    assert np.array_equal(np.isnan(got), np.isnan(want))  # same NULL positions
    ok = ~np.isnan(want)
    relative = np.abs(got[ok] - want[ok]) / np.maximum(1.0, np.abs(want[ok]))
    assert relative.max(initial=0.0) < 1e-12  # far inside the tolerance: rounding noise only
    if start <= warmup_bars():  # the whole history fits in the warm-up: bit for bit
        np.testing.assert_array_equal(got, want)


def test_too_short_a_warmup_is_visibly_wrong(series: tuple[np.ndarray, np.ndarray]) -> None:
    closes, stream = series
    got = batch_from(closes, 2500, 60)
    assert differs(got, stream[2500:], 1e-9).any()


def test_differs_treats_null_on_one_side_and_relative_size() -> None:
    stored = np.array([1.0, np.nan, 5.0, np.nan, 1000.0, 1e-12])
    expected = np.array([1.0, 2.0, np.nan, np.nan, 1000.0 + 5e-7, 0.0])
    assert differs(stored, expected, 1e-9).tolist() == [False, True, True, False, False, False]
    assert differs(stored, expected, 1e-10).tolist() == [False, True, True, False, True, False]
    assert differs(np.array([1e-8]), np.array([0.0]), 1e-9).tolist() == [True]  # absolute below 1
