"""IndicatorEngine: one symbol's streaming indicators against the pandas + ta reference (services.core.reference)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from indicator_data import (
    NON_DEFAULT,
    NON_DEFAULT_SHARED,
    SYMBOLS,
    assert_matches_reference,
    column,
    first_index,
    random_walk,
    spiky,
    stream,
)

from services.core.indicators import INDICATOR_COLUMNS, Bollinger, Ema, IndicatorEngine, IndicatorParams, Sma
from services.core.reference import compute_indicators

# --------------------------------------------------------------------------- agreement with ta


@pytest.mark.parametrize(("seed", "start", "vol"), SYMBOLS)
def test_stream_matches_ta_on_random_walks(seed, start, vol):
    closes = random_walk(seed, start, vol)
    rows = stream(closes)
    assert_matches_reference(rows, closes)
    # every indicator has values from its warm-up on, none after
    for name in INDICATOR_COLUMNS:
        assert sum(getattr(r, name) is None for r in rows) == first_index(rows, name)


def test_first_values_appear_where_ta_starts_them_with_default_params():
    rows = stream(random_walk(1, 100.0, 0.01, 200))
    firsts = {name: first_index(rows, name) for name in INDICATOR_COLUMNS}
    assert firsts == {
        "sma": 19,
        "ema_fast": 11,
        "ema_slow": 25,
        "rsi": 13,
        "macd": 25,
        "macd_signal": 33,  # EMA(9) of the MACD, seeded with the first MACD at index 25
        "macd_hist": 33,
        "bb_middle": 19,
        "bb_upper": 19,
        "bb_lower": 19,
    }


@pytest.mark.parametrize("params", [NON_DEFAULT, NON_DEFAULT_SHARED], ids=["separate", "shared"])
@pytest.mark.parametrize(("seed", "start", "vol"), SYMBOLS[:2])
def test_stream_matches_ta_with_non_default_params(params, seed, start, vol):
    closes = random_walk(seed, start, vol)
    rows = stream(closes, params)
    assert_matches_reference(rows, closes, params)
    assert first_index(rows, "sma") == params.sma_period - 1
    assert first_index(rows, "ema_fast") == params.ema_fast_period - 1
    assert first_index(rows, "rsi") == params.rsi_period - 1
    assert first_index(rows, "macd_signal") == max(params.macd_fast, params.macd_slow) + params.macd_signal - 2


def test_shared_computation_gives_identical_results_to_standalone_indicators():
    closes = random_walk(21, 250.0, 0.01, 3000)
    rows = stream(closes)  # default params: EMAs shared with the MACD, SMA with the Bollinger middle band
    ema_fast, ema_slow, sma = Ema(12), Ema(26), Sma(20)
    for close, row in zip(closes, rows, strict=True):
        assert row.ema_fast == ema_fast.update(close)
        assert row.ema_slow == ema_slow.update(close)
        assert row.sma == sma.update(close)
    assert row.sma is not None and row.ema_slow is not None


@pytest.mark.parametrize(
    "closes",
    [
        pytest.param(np.round(np.array(random_walk(32, 20.0, 0.002, 4000)), 2).tolist(), id="cent-ticks"),
        pytest.param(np.repeat(random_walk(33, 60.0, 0.02, 600), 9).tolist(), id="runs-of-equal-prices"),
        pytest.param(spiky(3000), id="spikes"),
        pytest.param(random_walk(34, 2e-6, 0.05, 3000), id="tiny-prices"),
        pytest.param([100.0 + i for i in range(200)] + [300.0 - i for i in range(200)], id="monotone-up-down"),
    ],
)
def test_stream_matches_ta_on_awkward_series(closes):
    rows = stream(closes)
    assert_matches_reference(rows, closes)


@pytest.mark.parametrize(
    "closes",
    [
        pytest.param(random_walk(35, 150.0, 0.01), id="walk"),
        pytest.param(np.repeat(random_walk(36, 60.0, 0.02, 600), 9).tolist(), id="runs-of-equal-prices"),
        pytest.param(spiky(3000), id="spikes"),
    ],
)
@pytest.mark.parametrize("params", [IndicatorParams(), NON_DEFAULT], ids=["default", "non-default"])
def test_stream_is_bit_identical_to_ta(closes, params):
    """Stricter than the 1e-9 contract: the engine repeats pandas' arithmetic step by step.

    This is what keeps the two in step over arbitrarily long series (pandas' own
    rolling-window rounding drifts, and the engine drifts identically).  Pinned to
    the pandas in requirements.lock (3.1: rolling var recomputes a window on
    catastrophic cancellation); another pandas release may change the last bits.
    """
    rows = stream(closes, params)
    ref = compute_indicators(pd.Series(closes, dtype=np.float64), params)
    for name in INDICATOR_COLUMNS:
        got = column(rows, name)
        np.testing.assert_array_equal(got, ref[name].to_numpy(), err_msg=name)
    # the deviation itself (in the bands it is partly rounded away)
    bb = Bollinger(params.bollinger_period, params.bollinger_k)
    stds = []
    for close in closes:
        bb.update(close)
        stds.append(math.nan if bb.std is None else bb.std)
    expected = pd.Series(closes).rolling(params.bollinger_period, min_periods=params.bollinger_period).std(ddof=0)
    np.testing.assert_array_equal(np.array(stds), expected.to_numpy(), err_msg="std")


def test_long_drifting_series_stays_within_tolerance():
    # 200,000 bars drifting over orders of magnitude: running sums must not accumulate error
    closes = random_walk(41, 100.0, 0.01, 200_000)
    assert max(closes) / min(closes) > 100
    rows = stream(closes)
    assert_matches_reference(rows, closes)


# --------------------------------------------------------------------------- edge cases


# 7.77: a Kahan sum of 20 of them / 20 != 7.77, pandas returns the repeated value itself;
# 450.04 / 991.34: ((1 - a) * x + a * x) != x for the EMA(12) / EMA(26) alpha, pandas skips the update
@pytest.mark.parametrize("price", [7.77, 450.04, 991.34])
def test_constant_prices(price):
    closes = [price] * 100
    rows = stream(closes)
    assert_matches_reference(rows, closes)
    last = rows[-1]
    assert last.rsi == 100.0  # average loss 0 -> 100 (ta gives 100 too, even though the average gain is 0)
    assert sum(r.rsi == 100.0 for r in rows) == 100 - 13
    assert all(r.sma == r.bb_middle == r.bb_upper == r.bb_lower == price for r in rows[19:])
    assert all(r.ema_fast == price for r in rows[11:]) and all(r.ema_slow == price for r in rows[25:])
    assert last.macd == last.macd_signal == last.macd_hist == 0.0


@pytest.mark.parametrize("n", [0, 1, 5, 11])
def test_series_shorter_than_every_period_gives_no_values(n):
    closes = random_walk(51, 30.0, 0.01, n)
    rows = stream(closes)
    assert len(rows) == n
    assert all(getattr(r, name) is None for r in rows for name in INDICATOR_COLUMNS)
    ref = compute_indicators(pd.Series(closes, dtype=np.float64))
    assert ref.shape == (n, len(INDICATOR_COLUMNS))
    assert ref.isna().all().all()


def test_periods_of_one():
    params = IndicatorParams(
        sma_period=1, ema_fast_period=1, ema_slow_period=2, rsi_period=1,
        macd_fast=1, macd_slow=2, macd_signal=1, bollinger_period=1, bollinger_k=2.0,
    )  # fmt: skip
    closes = random_walk(52, 10.0, 0.05, 500)
    rows = stream(closes, params)
    assert_matches_reference(rows, closes, params)
    assert rows[0].sma == closes[0] and rows[0].bb_upper == closes[0]


def test_integer_closes_are_treated_as_floats():
    closes = [100, 101, 99, 102, 98, 97, 103, 104, 100, 99] * 10
    rows = stream(closes)
    assert_matches_reference(rows, closes)
    assert isinstance(rows[-1].sma, float)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_close_is_rejected_without_touching_the_state(bad):
    closes = random_walk(53, 70.0, 0.01, 200)
    engine = IndicatorEngine()
    reference = IndicatorEngine()
    for c in closes[:100]:
        engine.update(c)
        reference.update(c)
    with pytest.raises(ValueError, match="finite"):
        engine.update(bad)
    assert [engine.update(c) for c in closes[100:]] == [reference.update(c) for c in closes[100:]]
