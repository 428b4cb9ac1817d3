"""Sma: pandas' rolling(n, min_periods=n).mean(), to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from indicator_data import feed, random_walk, spiky

from services.core.indicators import Sma

SERIES = {
    "walk": random_walk(83, 150.0, 0.01, 3000),
    "spikes": spiky(2000),
    "constant": [7.77] * 60,  # a Kahan sum of 20 of them / 20 != 7.77: pandas returns the value itself
    "signs": [1.0, -1.0, 2.5, -2.5, 0.0, -0.0, 3.0] * 20,
}


@pytest.mark.parametrize("closes", SERIES.values(), ids=SERIES.keys())
@pytest.mark.parametrize("period", [1, 2, 20])
def test_sma_is_bit_identical_to_pandas_rolling_mean(closes, period):
    expected = pd.Series(closes).rolling(period, min_periods=period).mean()
    np.testing.assert_array_equal(feed(Sma(period), closes), expected.to_numpy())


def test_value_is_the_mean():
    sma = Sma(2)
    sma.update(1.0)
    assert sma.update(2.0) == sma.value == sma.mean == 1.5
