"""The processor's batch transaction on the real PostgreSQL (services/processor/store.py): every sink's
rows stored exactly, one staging table per session, and a refused batch leaving nothing behind."""
from __future__ import annotations

import math
from dataclasses import asdict
from functools import partial
from typing import Callable, Iterator

import psycopg2
import pytest
from lifecycle import execute
from sqlalchemy import Engine
from streams import truncate_outputs

from services.config import Settings
from services.processor.sinks import (
    BarRow,
    DeadLetterRow,
    EconomicIndicatorRow,
    LateBarRow,
    MarketDataRow,
    NewsSentimentRow,
    OrderBookRow,
    SignalRow,
)
from services.processor.store import BatchWriter, OffsetConflict
from services.processor.transaction import BatchOutput

TOPIC = "test.market.stock_prices"
T0 = 1_700_000_000.123456  # whole microseconds, stored exactly
INDICATORS = (1.5, None, 2.25, 70.0, -0.1, None, 1e-300, 101.0, 102.5, 99.5)


def batch(offset: int, *, bar_ts: float = T0) -> BatchOutput:
    """One batch holding a row of every sink, the values at the edges of what each column takes."""
    out = BatchOutput()
    for row in (
        BarRow("AAPL", "raw", bar_ts, 100.0, 101.0, 99.0, 100.5, 1e12, 1, *INDICATORS),
        BarRow("AAPL", "1m", bar_ts - 0.123456, 100.0, 101.0, 99.0, 100.5, 3.0, 3, *(None,) * len(INDICATORS)),
        SignalRow("AAPL", "raw", bar_ts, "rsi", "SELL", 100.5, 70.0, 70.0),
        LateBarRow(TOPIC, 0, offset, "AAPL", bar_ts - 60, "late", bar_ts,
                   '{"stock_symbol": "AAPL", "note": "quote \' and backslash \\\\ and é"}'),
        OrderBookRow("AAPL", bar_ts, "buy", 0.1 + 0.2, 2**62),
        NewsSentimentRow("AAPL", bar_ts, float("-inf"), 5e-324),
        MarketDataRow("AAPL", bar_ts, 3.1e12, 28.5),
        EconomicIndicatorRow("GDP, real \"chained\"", bar_ts, -0.0),
        DeadLetterRow(TOPIC, 0, offset, "not JSON: line 1", b"\x00\xff{'\\"),
    ):
        out.add(row)
    out.next_offsets[(TOPIC, 0)] = offset + 1
    out.states["AAPL"] = (bar_ts, {"last_ts": bar_ts, "series": [1.5, None]})
    return out


@pytest.fixture
def writer(base_settings: Settings, owner_db: Engine) -> Iterator[BatchWriter]:
    truncate_outputs(owner_db)
    w = BatchWriter(base_settings.database_url, "test-writer", asdict(base_settings.indicator_params()))
    yield w
    w.close()


Query = Callable[[str], list[tuple]]


@pytest.fixture
def query(base_settings: Settings) -> Query:
    """Rows of a query on the test database, as its owner (tests/lifecycle.py's execute)."""
    return partial(execute, base_settings)


def epoch(column: str) -> str:
    return f"round(extract(epoch FROM {column}) * 1000000)::bigint"


def test_every_sink_stores_its_rows_exactly_through_one_staging_table(writer: BatchWriter, query: Query) -> None:
    writer.write(batch(41), {(TOPIC, 0): None})
    us = round(T0 * 1e6)
    bars = query(f"SELECT timeframe, {epoch('ts')}, volume, base_bars, sma, ema_fast, ema_slow, rsi, macd, "
                          "macd_signal, macd_hist, bb_middle, bb_upper, bb_lower FROM bars ORDER BY timeframe DESC")
    assert bars == [("raw", us, 1e12, 1, *INDICATORS), ("1m", us - 123456, 3.0, 3, *(None,) * len(INDICATORS))]
    assert query(f"SELECT rule, side, {epoch('ts')}, value FROM signals") == [("rsi", "SELL", us, 70.0)]
    assert query(f"SELECT kafka_offset, {epoch('last_applied_ts')}, payload->>'note' FROM late_bars") == [
        (41, us, "quote ' and backslash \\ and é")]
    assert query("SELECT price, quantity FROM order_book") == [(0.1 + 0.2, 2**62)]
    assert query("SELECT sentiment_score, sentiment_magnitude FROM news_sentiment") == [
        (float("-inf"), 5e-324)]
    assert query("SELECT market_cap FROM market_data") == [(3.1e12,)]
    ((name, value),) = query("SELECT indicator_name, value FROM economic_indicators")
    assert name == "GDP, real \"chained\"" and value == 0.0 and math.copysign(1.0, value) == -1.0
    assert [(r, bytes(p)) for r, p in query("SELECT reason, payload FROM dead_letters")] == [
        ("not JSON: line 1", b"\x00\xff{'\\")]
    assert query("SELECT next_offset FROM processor_offsets WHERE consumer_group = 'test-writer'") == [(42,)]
    assert query("SELECT state FROM symbol_state") == [({"last_ts": T0, "series": [1.5, None]},)]
    # A commit empties every ON COMMIT DELETE ROWS table its session has, TOAST table and index
    # included, whichever the batch used: only the bars are staged.
    # (other sessions on this database may have temporary tables of their own)
    assert query("SELECT DISTINCT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r' "
                          "AND relname LIKE 'stage\\_%'") == [("stage_bars",)]


def test_a_batch_on_a_moved_partition_leaves_nothing_and_the_session_writes_on(writer: BatchWriter,
                                                                               query: Query) -> None:
    writer.write(batch(10), {(TOPIC, 0): None})
    with pytest.raises(OffsetConflict, match=rf"{TOPIC}\[0\] moved past 5: another consumer owns it now"):
        writer.write(batch(20, bar_ts=T0 + 1), {(TOPIC, 0): 5})
    assert query("SELECT count(*) FROM bars") == [(2,)]
    assert query("SELECT count(*) FROM dead_letters") == [(1,)]
    assert query("SELECT next_offset FROM processor_offsets") == [(11,)]
    writer.write(batch(20, bar_ts=T0 + 1), {(TOPIC, 0): 11})  # the same connection, not left in a failed block
    assert query("SELECT count(*), max(next_offset) FROM bars, processor_offsets") == [(4, 21)]


def test_a_value_postgresql_refuses_fails_the_whole_batch(writer: BatchWriter, query: Query) -> None:
    out = batch(10)
    out.rows[EconomicIndicatorRow] = [EconomicIndicatorRow("GDP\x00x", T0, 1.0)]  # text cannot hold NUL
    with pytest.raises((ValueError, psycopg2.DataError)):
        writer.write(out, {(TOPIC, 0): None})
    assert query("SELECT (SELECT count(*) FROM bars) + (SELECT count(*) FROM processor_offsets)") == [(0,)]
    writer.write(batch(10), {(TOPIC, 0): None})
    assert query("SELECT count(*) FROM bars") == [(2,)]
