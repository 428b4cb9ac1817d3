"""Bars and signals as the streaming engine writes them, for orchestration tests (helpers, not tests)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import psycopg2.extras
from sqlalchemy import Engine, text

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.records import StockPrice
from services.core.signals import SignalRules
from services.core.simulation import MarketSimulator, is_candle
from services.core.stream import AppliedBar, SymbolStream
from services.core.timeframes import Timeframe
from services.processor.sinks import BarRow, SignalRow

ORCHESTRATION_TABLES = ("deployment_checks", "reconciliation_mismatches", "reconciliation_runs")
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@dataclass
class StreamData:
    bars: pd.DataFrame  # symbol, ts (UTC), open..volume, indicators: exactly what was inserted
    signals: pd.DataFrame  # symbol, ts, rule, side, price, value, reference

    def times(self, symbol: str) -> pd.Series:
        return self.bars.loc[self.bars["symbol"] == symbol, "ts"].reset_index(drop=True)


def stream_rows(symbols: Sequence[str], bars_per_symbol: int, seed: int = 11, start: float = START,
                interval: float = 1.0) -> tuple[list[tuple], list[tuple]]:
    """Bars and signals of a seeded simulation, computed by the streaming engine (as the processor does)."""
    sim = MarketSimulator(symbols, seed, start, interval)
    streams = {s: SymbolStream(s, IndicatorParams(), SignalRules()) for s in symbols}
    bars, signals = [], []
    for tick in sim.stream(bars_per_symbol * len(symbols)):
        candle = next(r for r in tick if is_candle(r))
        bar = StockPrice(**candle)
        applied = streams[bar.stock_symbol].apply(bar)
        assert isinstance(applied, AppliedBar)
        values = [getattr(applied.values, c) for c in INDICATOR_COLUMNS]
        bars.append((bar.stock_symbol, bar.timestamp, bar.opening_price, bar.high, bar.low, bar.closing_price,
                     bar.volume, *values))
        signals += [(bar.stock_symbol, bar.timestamp, s.rule, s.side, bar.closing_price, s.value, s.reference)
                    for s in applied.signals]
    return bars, signals


def insert_stream_data(engine: Engine, bars: list[tuple], signals: list[tuple]) -> StreamData:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO bars (symbol, ts, open, high, low, close, volume, {', '.join(INDICATOR_COLUMNS)}) "
                     "VALUES %s", bars,
                template="(%s, to_timestamp(%s), " + ", ".join(["%s"] * (5 + len(INDICATOR_COLUMNS))) + ")",
                page_size=2000)
            psycopg2.extras.execute_values(
                cur, "INSERT INTO signals (symbol, ts, rule, side, price, value, reference) VALUES %s", signals,
                template="(%s, to_timestamp(%s), %s, %s, %s, %s, %s)", page_size=2000)
        raw.commit()
    finally:
        raw.close()
    return read_stream_data(engine)


def read_stream_data(engine: Engine) -> StreamData:
    with engine.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars WHERE timeframe = 'raw' ORDER BY symbol, ts"), conn)
        signals = pd.read_sql_query(text(
            "SELECT symbol, ts, rule, side, price, value, reference FROM signals WHERE timeframe = 'raw' "
            "ORDER BY symbol, ts, rule"), conn)
    return StreamData(bars, signals)


DEFAULT_TIMEFRAMES = ("1m", "5m", "1h", "1d")


def stream_rows_with_timeframes(symbols: Sequence[str], bars_per_symbol: int, *, seed: int = 11,
                                start: float = START, interval: float = 20.0,
                                timeframes: Sequence[str] = DEFAULT_TIMEFRAMES) -> tuple[list[tuple], list[tuple]]:
    """Base bars and rolled candles with their signals, as the processor's sinks write them
    (BarRow / SignalRow: symbol, timeframe, ts, ...)."""
    sim = MarketSimulator(symbols, seed, start, interval)
    specs = tuple(Timeframe.parse(tf) for tf in timeframes)
    streams = {s: SymbolStream(s, IndicatorParams(), SignalRules(), specs) for s in symbols}
    bars: list[tuple] = []
    signals: list[tuple] = []
    for tick in sim.stream(bars_per_symbol * len(symbols)):
        bar = StockPrice(**next(r for r in tick if is_candle(r)))
        applied = streams[bar.stock_symbol].apply(bar)
        assert isinstance(applied, AppliedBar)
        bars.append(BarRow.of(bar, applied.values))
        signals += [SignalRow.of(bar, s) for s in applied.signals]
        for rolled in applied.rolled:
            bars.append(BarRow.rolled(bar.stock_symbol, rolled))
            signals += [SignalRow.rolled(bar.stock_symbol, rolled, s) for s in rolled.signals]
    return bars, signals


def insert_rows(engine: Engine, bars: list[tuple], signals: list[tuple]) -> None:
    """Insert BarRow / SignalRow tuples (epoch-second ts) as they are."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO bars ({', '.join(BarRow._fields)}) VALUES %s", bars,
                template="(%s, %s, to_timestamp(%s), " + ", ".join(["%s"] * (len(BarRow._fields) - 3)) + ")",
                page_size=2000)
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO signals ({', '.join(SignalRow._fields)}) VALUES %s", signals,
                template="(%s, %s, to_timestamp(%s), %s, %s, %s, %s, %s)", page_size=2000)
        raw.commit()
    finally:
        raw.close()


def read_timeframe(engine: Engine, timeframe: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One timeframe's stored bars and signals, ordered."""
    with engine.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars WHERE timeframe = :tf ORDER BY symbol, ts"), conn,
                                 params={"tf": timeframe})
        signals = pd.read_sql_query(text(
            "SELECT symbol, ts, rule, side, price, value, reference FROM signals WHERE timeframe = :tf "
            "ORDER BY symbol, ts, rule"), conn, params={"tf": timeframe})
    return bars, signals
