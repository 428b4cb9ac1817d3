"""The REST API's response models and the value types of its query parameters.

They document the API at /docs (OpenAPI) and shape the JSON bodies; the rows themselves come
from `queries`. Times are float epoch seconds (docs/dashboard.md, "REST").
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Order = Literal["asc", "desc"]  # listing order by time; desc = newest first
# The periods the market_summary DAG computes (services/orchestration/analytics/market_summary.py, PERIODS)
# and market_summaries.period allows (sql/0026); tests/dashboard/test_dashboard_rest.py checks
# they agree. Written out here so that the dashboard does not import the DAG side.
Period = Literal["1h", "1d", "7d"]


class Bar(BaseModel):
    ts: float = Field(description="bar time, epoch seconds")
    open: float
    high: float
    low: float
    close: float
    volume: float
    sma: float | None = None
    ema_fast: float | None = None
    ema_slow: float | None = None
    rsi: float | None = None
    macd: float | None = None
    macd_signal: float | None = None
    macd_hist: float | None = None
    bb_middle: float | None = None
    bb_upper: float | None = None
    bb_lower: float | None = None


class BarPage(BaseModel):
    symbol: str
    order: Order
    count: int
    items: list[Bar]
    next_cursor: str | None = Field(description="pass as `cursor` (with the same other parameters) for the next page")
    next: str | None = Field(description="the next page's URL, or null on the last page")


class Signal(BaseModel):
    symbol: str
    ts: float = Field(description="time of the bar that fired it, epoch seconds")
    rule: Literal["rsi", "ema_cross", "macd_cross"]
    side: Literal["BUY", "SELL"]
    price: float
    value: float = Field(description="the indicator that fired (rsi, ema_fast or macd)")
    reference: float = Field(description="what it crossed (threshold, ema_slow or macd_signal)")


class SignalPage(BaseModel):
    order: Order
    count: int
    items: list[Signal]
    next_cursor: str | None
    next: str | None


class SymbolInfo(BaseModel):
    symbol: str
    configured: bool = Field(description="listed in TICKFLOW_SYMBOLS")
    first_ts: float | None
    last_ts: float | None
    last_close: float | None


class SymbolList(BaseModel):
    items: list[SymbolInfo]


class TimeframeInfo(BaseModel):
    timeframe: str = Field(description="raw (the base bars) or a rolled-up timeframe's canonical name, e.g. 1m")
    seconds: int | None = Field(description="window length; null for raw")


class TimeframeList(BaseModel):
    items: list[TimeframeInfo] = Field(description="raw first, then the configured timeframes, shortest first")


class FormingCandle(BaseModel):
    ts: float = Field(description="window start, epoch seconds (UTC epoch aligned)")
    open: float
    high: float
    low: float
    close: float
    volume: float
    base_bars: int = Field(description="how many base bars it holds so far")
    last_ts: float = Field(description="time of the newest base bar it holds; add the feed's later base bars")


class Forming(BaseModel):
    symbol: str
    timeframe: str
    item: FormingCandle | None = Field(description="null when the symbol has no base bars")


class RuleSummary(BaseModel):
    rule: str
    buy_signals: int
    sell_signals: int
    evaluated: int
    hits: int
    hit_rate: float | None


class Summary(BaseModel):
    symbol: str
    timeframe: str = Field(description="the bars summarised: raw (base bars) or a rolled timeframe")
    period: Period
    window_start: float
    window_end: float
    bars: int
    first_ts: float
    last_ts: float
    open: float
    high: float
    low: float
    close: float
    return_: float = Field(alias="return", serialization_alias="return")
    volatility: float | None
    volume: float
    buy_signals: int
    sell_signals: int
    horizon_bars: int
    evaluated: int
    hits: int
    hit_rate: float | None
    run_id: str | None
    computed_at: float
    rules: list[RuleSummary]


class SummaryList(BaseModel):
    items: list[Summary]


class Evaluation(BaseModel):
    """A row of signal_evaluation_latest (README, "Signal evaluation"): one rule followed, beside buy-and-hold."""
    symbol: str
    timeframe: str
    rule: str
    window_start: float
    window_end: float
    fee_bps: float = Field(description="paid on every entry and exit, basis points")
    first_ts: float
    last_ts: float
    bars: int
    buy_signals: int
    sell_signals: int
    trades: int = Field(description="closed trades: BUY while flat at its close, SELL while long at its close")
    wins: int
    win_rate: float | None
    mean_trade_return: float | None = Field(description="mean return per closed trade after fees")
    total_return: float
    sharpe: float | None
    max_drawdown: float
    exposure: float
    open_trade_return: float | None
    bh_total_return: float = Field(description="buy-and-hold over the same bars, same fees")
    bh_sharpe: float | None
    bh_max_drawdown: float
    computed_at: float
    too_few_trades: bool = Field(description="fewer closed trades than `min_trades`: too few to judge the rule by")
    lost_to_buy_and_hold: bool = Field(description="total_return below bh_total_return")


class EvaluationList(BaseModel):
    min_trades: int = Field(description="closed trades a rule needs to be judged (TICKFLOW_EVALUATION_MIN_TRADES)")
    items: list[Evaluation]


class ForecastDay(BaseModel):
    """A row of market_forecast_latest (README, "Forecasts")."""
    symbol: str
    target: Literal["close", "high", "low", "volume"]
    as_of: float = Field(description="the last daily candle the forecast is made from")
    step: int
    ts: float = Field(description="the day forecast")
    model: str
    forecast: float
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float
    mase: float = Field(description="the model's cross-validated MASE")
    naive_mase: float = Field(description="naive's MASE on the same windows")
    beats_naive: bool = Field(description="false: no model beat naive, and this is naive's forecast")
    best_model: str | None = Field(description="the candidate other than naive with the lowest cross-validated MASE "
                                               "(null when none could be fitted); when beats_naive is false, the best "
                                               "that did not beat naive")
    best_mase: float | None = Field(description="best_model's MASE")


class ForecastScore(BaseModel):
    """A row of forecast_evaluations: one candidate's rolling-origin cross-validation."""
    symbol: str
    target: str
    as_of: float
    model: str
    selected: bool
    mase: float | None
    smape: float | None
    coverage_80: float | None
    coverage_95: float | None
    cv_windows: int
    horizon: int
    error: str | None


class ForecastList(BaseModel):
    items: list[ForecastDay]
    evaluations: list[ForecastScore]


class Glance(BaseModel):
    """What a trader reads first, from the facts (services/core/stance.py): every number one of the facts'."""
    stance: Literal["BUY", "SELL"] | None = Field(description="the side all the evidence that counts takes; null: "
                                                              "none counts, or it disagrees, or the bar is stale")
    stance_text: str = Field(description='the stance, or "no stance"')
    deciding: list[str] = Field(description="the one or two facts that decide the stance (or why there is none)")
    freshness: str = Field(description="the newest bar's time and the run's end, and whether the bar is stale")
    stale: bool = Field(description="no bar, or the newest one is older than the stale limit")
    freshest_signal: str | None = Field(description="the newest signal of any rule: side, time, price, rule")
    forecast_vs_naive: str = Field(description="how the close forecast did against naive in cross-validation")


class Recommendation(BaseModel):
    """A row of recommendation_latest (README, "Recommendations"): the text a person reads and its facts."""
    symbol: str
    timeframe: str
    as_of: float = Field(description="the run's end: every fact is from a row stored before it")
    weight: Literal["little", "some", "fair"] = Field(description="how much weight the evidence deserves")
    text: str = Field(description="the recommendation in plain words (the LLM's phrasing or the template's)")
    template_text: str = Field(description="the deterministic text from the facts")
    phrasing: Literal["template", "llm"]
    fallback_reason: str | None = Field(description="why an LLM's answer was not used (null: used, or no LLM set)")
    facts: dict[str, Any] = Field(description="the rounded values the text shows, each part with its source table "
                                              "and key")
    computed_at: float
    glance: Glance = Field(description="what a trader reads first, derived from the facts")


class RecommendationList(BaseModel):
    items: list[Recommendation]
