"""Forecasting one daily series, scored against the naive forecast (the market_forecast DAG's models;
pure: no I/O). README, "Forecasts".

- Every series is modelled on the log1p scale (prices and volumes are positive and move in
  proportion) and brought back with expm1: quantiles map exactly, so the intervals are the
  model's, and the point forecast is the median.
- Candidates: the baselines `naive` (the last value; σ = root mean square of the one-step
  changes, interval ± z·σ·√h) and `drift` (the last value plus h times the mean change; σ =
  standard deviation of the changes around it, interval ± z·σ·√(h·(1 + h/(T-1)))), always fitted;
  `ets` (statsmodels ETSModel with additive errors: no trend, additive trend or damped trend,
  chosen by AICc); `theta` (statsmodels ThetaModel, no seasonality).
- Rolling-origin cross-validation: `windows` origins, each `horizon` apart, the last one
  `horizon` before the end; every candidate is fitted on the data before an origin and
  forecasts the `horizon` values after it. Per model: MASE (mean absolute error over the
  in-sample mean absolute one-step change of its training data, averaged over the windows),
  sMAPE (percent, 200·|e| / (|y| + |ŷ|)) and the share of actual values inside the 80% and 95%
  intervals, all on the original scale.
- The model with the lowest MASE is refitted on the whole series; only a model whose MASE is
  strictly below naive's is said to beat naive, and when none does, naive is the forecast.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["BASELINES", "LEVELS", "MODELS", "Forecast", "TargetResult", "cross_validate", "fit_forecast",
           "forecast_target", "min_history"]

LEVELS = (80, 95)
BASELINES = ("naive", "drift")
MODELS = (*BASELINES, "ets", "theta")
MIN_TRAIN = 30  # fewest values a model is fitted on
Z = {level: NormalDist().inv_cdf(0.5 + level / 200) for level in LEVELS}


@dataclass(frozen=True)
class Forecast:
    """`horizon` values on the scale the model was fitted on: point and (lo, hi) per level."""
    point: np.ndarray
    lo: dict[int, np.ndarray]
    hi: dict[int, np.ndarray]

    def mapped(self, f: Callable[[np.ndarray], np.ndarray]) -> "Forecast":
        return Forecast(f(self.point), {k: f(v) for k, v in self.lo.items()}, {k: f(v) for k, v in self.hi.items()})


def _normal(point: np.ndarray, sd: np.ndarray) -> Forecast:
    return Forecast(point, {k: point - z * sd for k, z in Z.items()}, {k: point + z * sd for k, z in Z.items()})


def _naive(y: np.ndarray, h: int) -> Forecast:
    steps = np.arange(1, h + 1)
    sigma = np.sqrt(np.mean(np.diff(y) ** 2))
    return _normal(np.full(h, y[-1]), sigma * np.sqrt(steps))


def _drift(y: np.ndarray, h: int) -> Forecast:
    steps = np.arange(1, h + 1)
    changes = np.diff(y)
    slope, sigma = changes.mean(), changes.std(ddof=1)
    return _normal(y[-1] + slope * steps, sigma * np.sqrt(steps * (1 + steps / (len(y) - 1))))


def _ets(y: np.ndarray, h: int) -> Forecast:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(y)
    fits = [ETSModel(series, error="add", trend=trend, damped_trend=damped).fit(disp=False)
            for trend, damped in ((None, False), ("add", False), ("add", True))]
    best = min(fits, key=lambda r: r.aicc)
    prediction = best.get_prediction(start=len(y), end=len(y) + h - 1)
    frames = {k: prediction.summary_frame(alpha=1 - k / 100) for k in LEVELS}
    return Forecast(frames[LEVELS[0]]["mean"].to_numpy(), {k: f["pi_lower"].to_numpy() for k, f in frames.items()},
                    {k: f["pi_upper"].to_numpy() for k, f in frames.items()})


def _theta(y: np.ndarray, h: int) -> Forecast:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    fit = ThetaModel(pd.Series(y), period=1, deseasonalize=False).fit()
    bands = {k: fit.prediction_intervals(h, alpha=1 - k / 100) for k in LEVELS}
    return Forecast(fit.forecast(h).to_numpy(), {k: b["lower"].to_numpy() for k, b in bands.items()},
                    {k: b["upper"].to_numpy() for k, b in bands.items()})


FITTERS: dict[str, Callable[[np.ndarray, int], Forecast]] = {"naive": _naive, "drift": _drift, "ets": _ets,
                                                              "theta": _theta}


def fit_forecast(model: str, values: np.ndarray, horizon: int) -> Forecast:
    """`model` fitted on `values` (original scale, positive), forecasting `horizon` values (original scale)."""
    with warnings.catch_warnings():  # statsmodels' convergence chatter: a bad fit shows in its CV score
        warnings.simplefilter("ignore")
        fc = FITTERS[model](np.log1p(np.asarray(values, dtype=np.float64)), horizon)
    out = fc.mapped(np.expm1)
    if not all(np.isfinite(a).all() for a in (out.point, *out.lo.values(), *out.hi.values())):
        raise ArithmeticError(f"{model} gave a non-finite forecast")
    return out


@dataclass
class Score:
    model: str
    mase: float | None = None
    smape: float | None = None
    coverage: dict[int, float] = field(default_factory=dict)
    error: str | None = None  # why the model could not be scored


def min_history(horizon: int) -> int:
    """Fewest values for one cross-validation window."""
    return MIN_TRAIN + horizon


def cross_validate(values: np.ndarray, horizon: int, windows: int,
                   models: tuple[str, ...] = MODELS) -> tuple[list[Score], int]:
    """Each model's rolling-origin scores; and how many windows fitted in the history (≤ `windows`)."""
    y = np.asarray(values, dtype=np.float64)
    windows = min(windows, (len(y) - MIN_TRAIN) // horizon)
    if windows < 1:
        raise ValueError(f"{len(y)} values: at least {min_history(horizon)} are needed for a {horizon}-step forecast")
    origins = [len(y) - k * horizon for k in range(windows, 0, -1)]
    scores = []
    for model in models:
        mase, smape, inside = [], [], {k: [] for k in LEVELS}
        try:
            for origin in origins:
                train, actual = y[:origin], y[origin:origin + horizon]
                fc = fit_forecast(model, train, horizon)
                error = np.abs(actual - fc.point)
                mase.append(error.mean() / np.abs(np.diff(train)).mean())
                smape.append(np.mean(200 * error / (np.abs(actual) + np.abs(fc.point))))
                for k in LEVELS:
                    inside[k].extend((actual >= fc.lo[k]) & (actual <= fc.hi[k]))
        except Exception as exc:  # noqa: BLE001 - a model that fails is not chosen; the table says why
            scores.append(Score(model, error=f"{type(exc).__name__}: {exc}"[:300]))
            continue
        scores.append(Score(model, float(np.mean(mase)), float(np.mean(smape)),
                            {k: float(np.mean(v)) for k, v in inside.items()}))
    return scores, windows


@dataclass
class TargetResult:
    model: str  # the one forecasting
    beats_naive: bool
    scores: list[Score]
    windows: int
    forecast: Forecast

    def score(self, model: str) -> Score:
        return next(s for s in self.scores if s.model == model)


def forecast_target(values: np.ndarray, horizon: int, windows: int, models: tuple[str, ...] = MODELS) -> TargetResult:
    """Cross-validate `models` (naive among them), forecast with the best, say whether it beats naive."""
    if "naive" not in models:
        raise ValueError("naive is the yardstick: it must be among the models")
    scores, used = cross_validate(values, horizon, windows, models)
    naive = next(s for s in scores if s.model == "naive")
    if naive.mase is None:
        raise ArithmeticError(f"the naive forecast failed: {naive.error}")
    scored = [s for s in scores if s.mase is not None and np.isfinite(s.mase)]
    best = min(scored, key=lambda s: (s.mase, models.index(s.model)))  # ties: the simpler model
    beats = bool(best.model != "naive" and best.mase < naive.mase)
    model = best.model if beats else "naive"
    return TargetResult(model, beats, scores, used, fit_forecast(model, values, horizon))
