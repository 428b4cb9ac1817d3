"""RollingWindow: the ring buffer with running sums behind the SMA and the Bollinger bands."""

from __future__ import annotations

import numpy as np
import pytest
from indicator_data import spiky, stream

from services.core.indicators import RollingWindow


def test_bollinger_recovers_after_a_huge_outlier_leaves_the_window():
    closes = spiky(3000)
    rows = stream(closes)
    # well after the spikes, the deviation equals the window's own (no residue of the 1e12 values)
    for i in (130, 800, 2999):
        window = np.array(closes[i - 19 : i + 1])
        expected_std = window.std(ddof=0)
        assert (rows[i].bb_upper - rows[i].bb_middle) / 2.0 == pytest.approx(expected_std, rel=1e-6)
        assert rows[i].sma == pytest.approx(window.mean(), rel=1e-12)


def test_values_are_the_window_oldest_first():
    window = RollingWindow(4)
    for x in (1.0, 2.0, 3.0):
        window.update(x)
    assert window.values() == [1.0, 2.0, 3.0] and window.mean is None
    for x in (4.0, 5.0, 6.0):
        window.update(x)
    assert window.values() == [3.0, 4.0, 5.0, 6.0] and window.mean == 4.5


def test_a_state_of_another_period_is_refused():
    window = RollingWindow(4, track_std=True)
    window.update(1.0)
    with pytest.raises(ValueError, match="4 slots, period is 5"):
        RollingWindow(5, track_std=True).load_state(window.to_state())


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_period_is_checked(bad):
    with pytest.raises(ValueError, match="^period must be an int >= 1"):
        RollingWindow(bad)
