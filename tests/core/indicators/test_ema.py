"""Ema: pandas' ewm(..., adjust=False).mean(), span and Wilder (alpha = 1/period) forms, to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from indicator_data import feed, random_walk, spiky

from services.core.indicators import Ema

SERIES = {
    "walk": random_walk(82, 150.0, 0.01, 3000),
    "spikes": spiky(2000),
    "constant": [450.04] * 100,  # ((1 - a) * x + a * x) != x for some alphas: pandas skips the update
}


@pytest.mark.parametrize("closes", SERIES.values(), ids=SERIES.keys())
@pytest.mark.parametrize("period", [1, 2, 12, 26])
def test_ema_is_bit_identical_to_pandas_ewm_span(closes, period):
    expected = pd.Series(closes).ewm(span=period, min_periods=period, adjust=False).mean()
    np.testing.assert_array_equal(feed(Ema(period), closes), expected.to_numpy())


@pytest.mark.parametrize("closes", SERIES.values(), ids=SERIES.keys())
@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_wilder_ema_is_bit_identical_to_pandas_ewm_alpha(closes, period):
    expected = pd.Series(closes).ewm(alpha=1 / period, min_periods=period, adjust=False).mean()
    np.testing.assert_array_equal(feed(Ema.wilder(period), closes), expected.to_numpy())


def test_value_follows_update():
    ema = Ema(3)
    assert [ema.update(x) for x in (1.0, 2.0)] == [None, None] and ema.value is None
    assert ema.update(3.0) == ema.value is not None


@pytest.mark.parametrize("make", [lambda p: Ema(p), Ema.wilder], ids=["span", "wilder"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_period_is_checked(make, bad):
    with pytest.raises(ValueError, match="^period must be an int >= 1"):
        make(bad)
