"""The REST API's response models and the value types of its query parameters.

They document the API at /docs (OpenAPI) and shape the JSON bodies; the rows themselves come
from `queries`. Times are float epoch seconds (docs/dashboard.md, "REST").
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Order = Literal["asc", "desc"]  # listing order by time; desc = newest first
# The periods the market_summary DAG computes (services/orchestration/market_summary.py, PERIODS)
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
