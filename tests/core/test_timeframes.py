"""Roll-ups: for any base-bar sequence, the closed candles equal pandas' resample on the UTC epoch."""
from __future__ import annotations

from functools import reduce
from operator import add

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.records import MAX_COUNT, StockPrice
from services.core.reference import compute_indicators, compute_signals, roll_up
from services.core.signals import SignalRules
from services.core.stream import SymbolStream
from services.core.timeframes import Candle, Rollup, Timeframe, parse_timeframes

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
SHORT = IndicatorParams(sma_period=3, ema_fast_period=2, ema_slow_period=4, rsi_period=3, macd_fast=2, macd_slow=4,
                        macd_signal=2, bollinger_period=3)


def test_parse_names_and_rejects() -> None:
    assert [(tf.name, tf.seconds) for tf in parse_timeframes("1d, 5M,1m,1h,60s")] == [
        ("1m", 60), ("5m", 300), ("1h", 3600), ("1d", 86400)]  # 60s is 1m
    assert [Timeframe.parse(t).name for t in ("90s", "120m", "48h", "7D")] == ["90s", "2h", "2d", "7d"]
    assert parse_timeframes("") == ()
    for bad in ("0m", "1w", "m", "1.5h", "-1m", "1 m", "raw"):
        with pytest.raises(ValueError, match="expected a whole number"):
            Timeframe.parse(bad)


def test_windows_are_aligned_to_the_utc_epoch() -> None:
    day, minute = Timeframe.parse("1d"), Timeframe.parse("1m")
    assert day.window_start(T0) == 1_699_920_000.0  # 2023-11-14 00:00 UTC
    assert minute.window_start(1_700_000_040.0) == 1_700_000_040.0  # on the boundary: opens the window
    assert minute.window_start(1_700_000_039.999999) == 1_699_999_980.0


def test_a_window_closes_on_the_first_bar_of_a_later_one() -> None:
    roll = Rollup(Timeframe.parse("1m"))
    assert roll.add(T0 + 40, 10, 12, 9, 11, 5) is None  # window [T0-20+60k...]: 22:13:00
    assert roll.add(T0 + 41, 11, 15, 10, 14, 7) is None  # 22:14:00 window opens at T0+40
    closed = roll.add(T0 + 200, 14, 14, 13, 13, 1)
    assert closed == Candle(T0 + 40, 10, 15, 9, 14, 12, 2)
    assert roll.forming == Candle(T0 + 160, 14, 14, 13, 13, 1, 1)
    with pytest.raises(ValueError, match="late bars must be refused"):
        roll.add(T0 + 100, 1, 1, 1, 1, 1)


def resample(bars: list[tuple], tf: Timeframe) -> list[Candle]:
    frame = pd.DataFrame(bars, columns=["ts", "open", "high", "low", "close", "volume"])
    frame.index = pd.to_datetime(frame["ts"], unit="s", utc=True)
    out = frame.resample(f"{tf.seconds}s", origin="epoch", closed="left", label="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": list, "ts": "count"})
    out = out[out["ts"] > 0]
    # volume: float64 added in arrival order, the rule of services/core/timeframes.py
    return [Candle(r.Index.timestamp(), r.open, r.high, r.low, r.close, float(reduce(add, map(float, r.volume))),
                   int(r.ts)) for r in out.itertuples()]


prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
volumes = st.one_of(st.integers(0, 10**9), st.just(MAX_COUNT),  # the largest a record may carry, summed
                    st.floats(0, 1e6, allow_nan=False, allow_infinity=False))  # fractional (crypto)
gaps = st.one_of(st.integers(1, 90), st.integers(1, 10_000), st.integers(1, 60_000))


@st.composite
def base_bars(draw: st.DrawFn) -> list[tuple]:
    n = draw(st.integers(1, 120))
    ts, bars = T0 + draw(st.integers(0, 86_400)) + draw(st.sampled_from([0.0, 0.25, 0.000001])), []
    for _ in range(n):
        low, high = sorted((draw(prices), draw(prices)))
        bars.append((ts, draw(st.floats(low, high)), high, low, draw(st.floats(low, high)), draw(volumes)))
        ts += draw(gaps) + draw(st.sampled_from([0.0, 0.5, 0.000001]))
    return bars


@settings(max_examples=150, deadline=None)
@given(bars=base_bars(), timeframe=st.sampled_from(["30s", "1m", "5m", "1h", "1d", "7m"]), data=st.data())
def test_closed_candles_equal_pandas_resample_whatever_the_restarts(bars: list[tuple], timeframe: str,
                                                                    data: st.DataObject) -> None:
    tf = Timeframe.parse(timeframe)
    restarts = set(data.draw(st.lists(st.integers(0, len(bars)), max_size=5)))
    roll, closed = Rollup(tf), []
    for i, bar in enumerate(bars):
        if i in restarts:  # a saved state taken here and restored continues identically
            roll = Rollup(tf, None if roll.forming is None else Candle.from_state(roll.forming.to_state()))
        candle = roll.add(*bar)
        if candle is not None:
            closed.append(candle)
    expected = resample(bars, tf)
    assert closed == expected[:-1]  # the last window is still forming
    assert roll.forming == expected[-1]


@settings(max_examples=60, deadline=None)
@given(bars=base_bars(), timeframe=st.sampled_from(["30s", "1m", "5m", "1h", "1d"]))
def test_the_stream_equals_the_batch_reference_to_the_bit(bars: list[tuple], timeframe: str) -> None:
    """Rolled-up candles, their indicators and signals: SymbolStream against roll_up + pandas + ta
    (short periods, so that the few candles of an example reach every indicator)."""
    rules, tf = SignalRules(), Timeframe.parse(timeframe)
    stream = SymbolStream("AAPL", SHORT, rules, (tf,))
    rolled = []
    for ts, o, h, lo, c, v in bars:
        applied = stream.apply(StockPrice.model_construct(stock_symbol="AAPL", timestamp=ts, opening_price=o,
                                                          high=h, low=lo, closing_price=c, volume=v))
        rolled.extend(applied.rolled)
    base = pd.DataFrame(bars, columns=["ts", "open", "high", "low", "close", "volume"])
    want = roll_up(base, tf)
    assert [(r.candle.start, r.candle.open, r.candle.high, r.candle.low, r.candle.close,
             r.candle.volume, r.candle.bars) for r in rolled] == list(want.itertuples(index=False, name=None))
    expected = compute_indicators(want["close"], SHORT)
    got = np.array([[np.nan if v is None else v for v in r.values] for r in rolled]).reshape(-1, len(INDICATOR_COLUMNS))
    assert np.array_equal(got, expected[list(INDICATOR_COLUMNS)].to_numpy(dtype=float), equal_nan=True)
    want_signals = [(int(s.position), s.rule, s.side) for s in compute_signals(expected, rules).itertuples()]
    assert [(i, s.rule, s.side) for i, r in enumerate(rolled) for s in r.signals] == want_signals


def test_a_candle_of_absurd_volumes_is_their_float_sum_not_refused() -> None:
    roll = Rollup(Timeframe.parse("1m"))
    for i in range(1100):  # 1,100 x (2^53 - 1) would have overflowed the bigint volume column
        roll.add(T0 + 40 + i * 0.01, 1.0, 1.0, 1.0, 1.0, MAX_COUNT)
    closed = roll.add(T0 + 100, 1.0, 1.0, 1.0, 1.0, 1)
    assert closed.volume == reduce(add, [float(MAX_COUNT)] * 1100)
    assert abs(closed.volume - 1100 * MAX_COUNT) <= 1e-12 * 1100 * MAX_COUNT


def test_fractional_volumes_add_in_arrival_order() -> None:
    roll = Rollup(Timeframe.parse("1m"))
    for i, volume in enumerate([0.1, 0.2, 0.3, 1e-9]):
        roll.add(T0 + i, 1.0, 1.0, 1.0, 1.0, volume)
    assert roll.forming.volume == ((0.1 + 0.2) + 0.3) + 1e-9 and roll.forming.bars == 4
