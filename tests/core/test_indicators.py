"""Streaming indicators (services.core.indicators) against the pandas + ta reference (services.core.reference)."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pandas as pd
import pytest

from services.core.reference import compute_indicators
from services.core.indicators import (
    INDICATOR_COLUMNS,
    Bollinger,
    Ema,
    IndicatorEngine,
    IndicatorParams,
    IndicatorValues,
    Sma,
)

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


def stream(closes, params: IndicatorParams = IndicatorParams()) -> list[IndicatorValues]:
    engine = IndicatorEngine(params)
    return [engine.update(c) for c in closes]


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


# --------------------------------------------------------------------------- agreement with ta


def test_indicator_columns_are_the_value_fields_in_order():
    assert INDICATOR_COLUMNS == (
        "sma", "ema_fast", "ema_slow", "rsi", "macd", "macd_signal", "macd_hist", "bb_middle", "bb_upper", "bb_lower",
    )  # fmt: skip


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


def test_bollinger_class_bands():
    closes = random_walk(22, 80.0, 0.02, 300)
    bb = Bollinger(20, 2.0)
    for close in closes:
        bb.update(close)
    window = np.array(closes[-20:])
    assert bb.middle == pytest.approx(window.mean(), rel=1e-12)
    assert bb.std == pytest.approx(window.std(ddof=0), rel=1e-9)
    assert bb.upper == bb.mean + 2.0 * bb.std
    assert bb.lower == bb.mean - 2.0 * bb.std


def _spiky(n: int) -> list[float]:
    closes = random_walk(31, 50.0, 0.01, n)
    for i in (100, 101, 700, 1500):
        closes[i] *= 1e12  # bad ticks: catastrophic cancellation once they leave the window
    return closes


@pytest.mark.parametrize(
    "closes",
    [
        pytest.param(np.round(np.array(random_walk(32, 20.0, 0.002, 4000)), 2).tolist(), id="cent-ticks"),
        pytest.param(np.repeat(random_walk(33, 60.0, 0.02, 600), 9).tolist(), id="runs-of-equal-prices"),
        pytest.param(_spiky(3000), id="spikes"),
        pytest.param(random_walk(34, 2e-6, 0.05, 3000), id="tiny-prices"),
        pytest.param([100.0 + i for i in range(200)] + [300.0 - i for i in range(200)], id="monotone-up-down"),
    ],
)
def test_stream_matches_ta_on_awkward_series(closes):
    rows = stream(closes)
    assert_matches_reference(rows, closes)


def test_bollinger_recovers_after_a_huge_outlier_leaves_the_window():
    closes = _spiky(3000)
    rows = stream(closes)
    # well after the spikes, the deviation equals the window's own (no residue of the 1e12 values)
    for i in (130, 800, 2999):
        window = np.array(closes[i - 19 : i + 1])
        expected_std = window.std(ddof=0)
        assert (rows[i].bb_upper - rows[i].bb_middle) / 2.0 == pytest.approx(expected_std, rel=1e-6)
        assert rows[i].sma == pytest.approx(window.mean(), rel=1e-12)


@pytest.mark.parametrize(
    "closes",
    [
        pytest.param(random_walk(35, 150.0, 0.01), id="walk"),
        pytest.param(np.repeat(random_walk(36, 60.0, 0.02, 600), 9).tolist(), id="runs-of-equal-prices"),
        pytest.param(_spiky(3000), id="spikes"),
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


def test_rsi_without_losses_is_100_and_without_gains_is_0():
    up = [10.0 + i for i in range(30)]
    down = [40.0 - i for i in range(30)]
    rows_up, rows_down = stream(up), stream(down)
    assert_matches_reference(rows_up, up)
    assert_matches_reference(rows_down, down)
    assert [r.rsi for r in rows_up[13:]] == [100.0] * 17
    assert [r.rsi for r in rows_down[13:]] == [0.0] * 17


def test_rsi_after_a_flat_start():
    closes = [5.0] * 20 + [5.5, 5.25, 5.75, 5.0, 6.0]
    rows = stream(closes)
    assert_matches_reference(rows, closes)
    assert rows[19].rsi == 100.0
    assert 0.0 < rows[-1].rsi < 100.0


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


def test_invalid_params_are_rejected():
    with pytest.raises(ValueError):
        IndicatorParams(sma_period=0)
    with pytest.raises(ValueError):
        IndicatorParams(rsi_period=2.5)
    with pytest.raises(ValueError):
        IndicatorParams(bollinger_k=math.nan)
    assert IndicatorParams(sma_period=np.int64(5)).sma_period == 5
    assert type(IndicatorParams(sma_period=np.int64(5)).sma_period) is int


def test_values_are_frozen_dataclass_instances():
    row = stream(random_walk(54, 10.0, 0.01, 40))[-1]
    assert type(row) is IndicatorValues
    with pytest.raises(AttributeError):
        row.sma = 1.0
    same = IndicatorValues(*(getattr(row, name) for name in INDICATOR_COLUMNS))
    assert row == same and hash(row) == hash(same)


# --------------------------------------------------------------------------- state round trip


def _only_json_types(obj) -> bool:
    if obj is None or type(obj) in (int, float):
        return True
    if type(obj) is list:
        return all(_only_json_types(v) for v in obj)
    if type(obj) is dict:
        return all(type(k) is str and _only_json_types(v) for k, v in obj.items())
    return False


@pytest.mark.parametrize("codec", ["json", "orjson"])
@pytest.mark.parametrize("params", [IndicatorParams(), NON_DEFAULT], ids=["default", "non-default"])
def test_state_round_trip_continues_bit_identically(codec, params):
    closes = random_walk(61, 120.0, 0.01, 5000)
    uninterrupted = stream(closes, params)

    engine = IndicatorEngine(params)
    for c in closes[:3000]:
        engine.update(c)
    state = engine.to_state()
    assert _only_json_types(state)
    if codec == "json":
        restored_state = json.loads(json.dumps(state))
    else:
        restored_state = orjson.loads(orjson.dumps(state))
    assert restored_state == state
    restored = IndicatorEngine.from_state(restored_state, params)
    continued = [restored.update(c) for c in closes[3000:]]

    assert len(continued) == 2000
    assert continued == uninterrupted[3000:]  # bit-identical floats, same None positions


@pytest.mark.parametrize("split", [0, 1, 5, 12, 19, 25, 33, 40])
def test_state_round_trip_during_warm_up(split):
    for params in (IndicatorParams(), NON_DEFAULT):
        closes = random_walk(62, 9.0, 0.02, 120)
        uninterrupted = stream(closes, params)
        engine = IndicatorEngine(params)
        for c in closes[:split]:
            engine.update(c)
        restored = IndicatorEngine.from_state(json.loads(json.dumps(engine.to_state())), params)
        assert [restored.update(c) for c in closes[split:]] == uninterrupted[split:]


def test_state_is_a_snapshot():
    closes = random_walk(63, 15.0, 0.01, 300)
    engine = IndicatorEngine()
    for c in closes[:200]:
        engine.update(c)
    state = engine.to_state()
    frozen = json.dumps(state)
    for c in closes[200:]:
        engine.update(c)
    assert json.dumps(state) == frozen


def test_from_state_rejects_mismatched_params_and_versions():
    engine = IndicatorEngine()
    for c in random_walk(64, 15.0, 0.01, 50):
        engine.update(c)
    state = engine.to_state()
    with pytest.raises(ValueError, match="params"):
        IndicatorEngine.from_state(state, NON_DEFAULT)
    with pytest.raises(ValueError, match="version"):
        IndicatorEngine.from_state({**state, "version": 999}, IndicatorParams())
    with pytest.raises(ValueError):
        IndicatorEngine.from_state({k: v for k, v in state.items() if k != "rsi"}, IndicatorParams())
