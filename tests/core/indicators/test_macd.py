"""Macd: EMA(fast) - EMA(slow) with an EMA signal line, as ta computes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from indicator_data import random_walk, spiky
from ta.trend import MACD

from services.core.indicators import Macd

SERIES = {"walk": random_walk(87, 150.0, 0.01, 3000), "spikes": spiky(2000), "constant": [991.34] * 80}


@pytest.mark.parametrize("closes", SERIES.values(), ids=SERIES.keys())
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 13, 4), (1, 2, 1)])
def test_macd_is_bit_identical_to_ta(closes, fast, slow, signal):
    macd = Macd(fast, slow, signal)
    got = {"macd": [], "signal": [], "hist": []}
    for close in closes:
        m = macd.update(close)
        got["macd"].append(np.nan if m is None else m)
        got["signal"].append(np.nan if m is None or macd.signal is None else macd.signal)
        got["hist"].append(np.nan if m is None or macd.hist is None else macd.hist)
    ref = MACD(pd.Series(closes), window_slow=slow, window_fast=fast, window_sign=signal, fillna=False)
    np.testing.assert_array_equal(got["macd"], ref.macd().to_numpy())
    np.testing.assert_array_equal(got["signal"], ref.macd_signal().to_numpy())
    np.testing.assert_array_equal(got["hist"], ref.macd_diff().to_numpy())


def test_signal_line_starts_signal_minus_one_bars_after_the_macd():
    macd = Macd(12, 26, 9)
    firsts = {}
    for i, close in enumerate(random_walk(88, 50.0, 0.01, 60)):
        macd.update(close)
        for name in ("macd", "signal", "hist"):
            if getattr(macd, name) is not None:
                firsts.setdefault(name, i)
    assert firsts == {"macd": 25, "signal": 33, "hist": 33}
