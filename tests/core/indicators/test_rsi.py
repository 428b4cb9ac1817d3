"""Rsi: Wilder-smoothed gains and losses (two Ema.wilder), as ta computes it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from indicator_data import assert_matches_reference, feed, random_walk, spiky, stream
from ta.momentum import RSIIndicator

from services.core.indicators import Ema, Rsi


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


SERIES = {
    "walk": random_walk(84, 150.0, 0.01, 3000),
    "spikes": spiky(2000),
    "cent-ticks": np.round(np.array(random_walk(85, 20.0, 0.002, 2000)), 2).tolist(),
}


@pytest.mark.parametrize("closes", SERIES.values(), ids=SERIES.keys())
@pytest.mark.parametrize("period", [1, 2, 14])
def test_rsi_is_bit_identical_to_ta(closes, period):
    expected = RSIIndicator(pd.Series(closes), window=period, fillna=False).rsi()
    np.testing.assert_array_equal(feed(Rsi(period), closes), expected.to_numpy())


def test_rsi_is_built_from_two_wilder_emas():
    closes = random_walk(86, 40.0, 0.02, 200)
    rsi, gains, losses = Rsi(14), Ema.wilder(14), Ema.wilder(14)
    prev = None
    for close in closes:
        change = 0.0 if prev is None else close - prev
        prev = close
        up, down = gains.update(max(change, 0.0)), losses.update(max(-change, 0.0))
        got = rsi.update(close)
        assert got == (None if down is None else 100.0 if down == 0.0 else 100.0 - 100.0 / (1.0 + up / down))


def test_saved_state_keeps_its_format():
    rsi = Rsi(3)
    for close in (10.0, 11.0, 10.5, 10.75):
        rsi.update(close)
    state = json.loads(json.dumps(rsi.to_state()))
    assert list(state) == ["prev", "up", "down", "count", "value"]
    assert state["prev"] == 10.75 and state["count"] == 3 and state["value"] == rsi.value
