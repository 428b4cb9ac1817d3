"""IndicatorParams: every rule for the indicator periods and the Bollinger width, checked in one place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.core.indicators import IndicatorParams
from services.core.indicators.params import PERIOD_FIELDS


def test_invalid_params_are_rejected():
    with pytest.raises(ValueError):
        IndicatorParams(sma_period=0)
    with pytest.raises(ValueError):
        IndicatorParams(rsi_period=2.5)
    with pytest.raises(ValueError):
        IndicatorParams(bollinger_k=math.nan)
    assert IndicatorParams(sma_period=np.int64(5)).sma_period == 5
    assert type(IndicatorParams(sma_period=np.int64(5)).sma_period) is int


@pytest.mark.parametrize("name", PERIOD_FIELDS)
@pytest.mark.parametrize("bad", [0, -3, 2.5, 20.0, "20", True, None])
def test_every_period_must_be_an_int_of_at_least_one(name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be an int >= 1, got {bad!r}$"):
        IndicatorParams(**{name: bad})


@pytest.mark.parametrize("bad", [0, 0.0, -1.5, math.nan, math.inf, -math.inf, "2", True, None])
def test_bollinger_k_must_be_a_finite_number_above_zero(bad):
    with pytest.raises(ValueError, match=r"^bollinger_k must be a finite number( > 0)?, got "):
        IndicatorParams(bollinger_k=bad)


def test_bollinger_k_of_zero_names_the_rule():
    with pytest.raises(ValueError, match=r"^bollinger_k must be a finite number > 0, got 0$"):
        IndicatorParams(bollinger_k=0)


def test_periods_and_k_are_stored_as_plain_numbers():
    params = IndicatorParams(macd_fast=np.int64(5), bollinger_k=np.float64(1.5), bollinger_period=np.int32(10))
    assert (params.macd_fast, params.bollinger_k, params.bollinger_period) == (5, 1.5, 10)
    assert type(params.macd_fast) is int and type(params.bollinger_period) is int
    assert type(params.bollinger_k) is float
    assert type(IndicatorParams(bollinger_k=3).bollinger_k) is float
    assert IndicatorParams(bollinger_k=2) == IndicatorParams()


def test_periods_need_no_particular_order():
    # the settings never required macd_fast < macd_slow (nor ema_fast_period < ema_slow_period); neither does the core
    params = IndicatorParams(macd_fast=26, macd_slow=12, ema_fast_period=30, ema_slow_period=30)
    assert (params.macd_fast, params.macd_slow) == (26, 12)
