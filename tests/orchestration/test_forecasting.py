"""The forecast models and their selection (services/orchestration/analytics/forecasting.py), without I/O: the
baselines' formulas by hand, nested intervals, rolling-origin windows, and naive kept when no
model beats it."""
from __future__ import annotations

import math

import numpy as np
import pytest

from services.orchestration.analytics.forecasting import (
    FITTERS,
    LEVELS,
    MODELS,
    cross_validate,
    fit_forecast,
    forecast_target,
)

Z80, Z95 = 1.2815515655446004, 1.959963984540054


def test_baselines_by_hand() -> None:
    y = np.array([1.0, 2.0, 4.0, 7.0])  # changes 1, 2, 3
    naive = FITTERS["naive"](y, 2)
    sigma = math.sqrt((1 + 4 + 9) / 3)
    assert naive.point.tolist() == [7.0, 7.0]
    assert naive.hi[95] == pytest.approx([7 + Z95 * sigma, 7 + Z95 * sigma * math.sqrt(2)])
    assert naive.lo[80] == pytest.approx([7 - Z80 * sigma, 7 - Z80 * sigma * math.sqrt(2)])
    drift = FITTERS["drift"](y, 2)  # slope 2, sd of the changes 1, T - 1 = 3
    assert drift.point.tolist() == [9.0, 11.0]
    assert drift.hi[80] == pytest.approx([9 + Z80 * math.sqrt(1 * (1 + 1 / 3)), 11 + Z80 * math.sqrt(2 * (1 + 2 / 3))])


def random_walk(n: int, seed: int, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.02, n)))


@pytest.mark.parametrize("model", MODELS)
def test_intervals_are_nested_and_positive(model: str) -> None:
    fc = fit_forecast(model, random_walk(200, 1), 7)
    assert len(fc.point) == 7
    assert (0 < fc.lo[95]).all() and (fc.lo[95] <= fc.lo[80]).all() and (fc.lo[80] <= fc.point).all()
    assert (fc.point <= fc.hi[80]).all() and (fc.hi[80] <= fc.hi[95]).all()
    assert fc.hi[95][-1] - fc.lo[95][-1] > fc.hi[95][0] - fc.lo[95][0]  # wider further out


def test_windows_fit_in_the_history() -> None:
    scores, used = cross_validate(random_walk(60, 2), 7, 5, ("naive", "drift"))
    assert used == 4  # (60 - 30) // 7: each training set keeps at least 30 values
    assert {s.model for s in scores} == {"naive", "drift"}
    assert all(0 <= s.coverage[k] <= 1 for s in scores for k in LEVELS)
    with pytest.raises(ValueError, match="at least 37 are needed"):
        cross_validate(random_walk(36, 2), 7, 5)


def test_naive_is_kept_when_nothing_beats_it() -> None:
    # a long steady rise, then flat for the last windows: drift keeps rising, naive is right
    y = np.concatenate([np.linspace(50, 150, 300), np.full(40, 150.0) + np.tile([0.1, -0.1], 20)])
    result = forecast_target(y, 7, 5, ("naive", "drift"))
    assert (result.model, result.beats_naive) == ("naive", False)
    assert result.score("drift").mase > result.score("naive").mase
    assert result.forecast.point == pytest.approx([y[-1]] * 7, rel=1e-14)  # log1p and back


def test_drift_beats_naive_on_a_trend() -> None:
    y = random_walk(400, 3, drift=0.01)  # 1% a day, 2% noise
    result = forecast_target(y, 7, 5)
    assert result.beats_naive and result.model != "naive"
    assert result.score(result.model).mase < result.score("naive").mase
    assert result.score("naive").coverage[95] >= 0.5
