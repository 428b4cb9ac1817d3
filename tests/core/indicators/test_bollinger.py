"""Bollinger: rolling mean +/- k population standard deviations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from indicator_data import random_walk

from services.core.indicators import Bollinger


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


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "2", True])
def test_k_must_be_a_finite_number_above_zero(bad):
    with pytest.raises(ValueError, match="^k must be a finite number"):
        Bollinger(20, bad)


def test_no_bands_before_the_window_is_full():
    bb = Bollinger(3, 2.0)
    assert [bb.update(x) for x in (1.0, 2.0)] == [None, None]
    assert bb.middle is bb.upper is bb.lower is None
