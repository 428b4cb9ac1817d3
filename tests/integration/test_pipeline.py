"""generator → ingest → Kafka → processor → PostgreSQL, on the real local services, fixed seed."""
from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
from running_services import RunningPipeline, ingest_and_processor, send_simulated_stream
from sqlalchemy import Engine, text
from support import wait_until

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from services.core.reference import compute_indicators, compute_signals
from services.core.simulation import MarketSimulator, is_candle

SEED, COUNT, INTERVAL = 7, 10_000, 1.0
TABLE_OF_TYPE = {"order_book": "order_book", "news_sentiment": "news_sentiment", "market_data": "market_data",
                 "economic_indicator": "economic_indicators"}


def expected_counts(symbols: tuple[str, ...], start: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    for tick in MarketSimulator(symbols, SEED, start, INTERVAL).stream(COUNT):
        for record in tick:
            counts["bars" if is_candle(record) else TABLE_OF_TYPE[record["data_type"]]] += 1
    return counts


def table_counts(db: Engine) -> Counter[str]:
    with db.connect() as conn:
        base = " WHERE timeframe = 'raw'"  # the base bars: one per candle sent
        return Counter({t: conn.execute(text(f"SELECT count(*) FROM {t}{base if t == 'bars' else ''}")).scalar_one()
                        for t in ("bars", *TABLE_OF_TYPE.values())})


@pytest.fixture
def pipeline(stack: Settings, tmp_path: Path) -> Iterator[RunningPipeline]:
    with ingest_and_processor(stack, tmp_path) as running:
        yield running


def test_every_accepted_record_is_stored_once_with_exact_indicators(
    pipeline: RunningPipeline, stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    start = math.floor(time.time()) - 2 * 86_400  # two days ago: well inside the timestamp rules
    expected = expected_counts(stack.symbols, start)

    send_simulated_stream(pipeline, tmp_path, count=COUNT, seed=SEED, start=start, interval=INTERVAL)

    wait_until(lambda: table_counts(owner_db) == expected, timeout=120, interval=0.5,
               what=f"stored counts {dict(expected)}")

    with owner_db.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars WHERE timeframe = 'raw' ORDER BY symbol, ts"), conn)
        signals = pd.read_sql_query(text("SELECT symbol, ts, rule, side, price, value, reference FROM signals "
                                         "WHERE timeframe = 'raw'"), conn)
        assert conn.execute(text("SELECT count(*) FROM late_bars")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM symbol_state")).scalar_one() == len(stack.symbols)

    assert bars.groupby("symbol").size().to_dict() == {s: COUNT // len(stack.symbols) for s in stack.symbols}
    mismatches, expected_signals = [], []
    for symbol, rows in bars.groupby("symbol"):
        rows = rows.reset_index(drop=True)
        reference = compute_indicators(rows["close"])
        for column in INDICATOR_COLUMNS:
            got, want = rows[column].to_numpy(dtype=float), reference[column].to_numpy(dtype=float)
            if not np.array_equal(np.isnan(got), np.isnan(want)):
                mismatches.append((symbol, column, "NULL positions differ"))
                continue
            ok = ~np.isnan(want)
            tolerance = 1e-9 * np.maximum(1.0, np.abs(want[ok]))
            if not np.all(np.abs(got[ok] - want[ok]) <= tolerance):
                mismatches.append((symbol, column, float(np.max(np.abs(got[ok] - want[ok])))))
        for sig in compute_signals(reference).itertuples():
            expected_signals.append((symbol, rows["ts"][sig.position], sig.rule, sig.side))
    assert mismatches == []
    stored = sorted(zip(signals["symbol"], signals["ts"], signals["rule"], signals["side"]))
    assert stored == sorted(expected_signals)
    sides = Counter(signals["side"])
    assert sides["BUY"] >= 1 and sides["SELL"] >= 1, sides


def test_a_resent_batch_is_stored_once(pipeline: RunningPipeline, stack: Settings, owner_db: Engine) -> None:
    """A lost response makes the generator send the same records again: nothing is doubled."""
    ingest_url = pipeline.ingest_url
    start = math.floor(time.time()) - 3_600
    records = [r for tick in MarketSimulator(stack.symbols, 5, start, 1.0).stream(500) for r in tick]
    for _ in range(2):
        resp = httpx.post(f"{ingest_url}/ingest", json=records, timeout=30)
        assert resp.status_code == 200 and resp.json()["accepted"] == len(records)
    candles = sum(1 for r in records if is_candle(r))

    def late_count() -> int:
        with owner_db.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM late_bars "
                                     "WHERE reason IN ('duplicate', 'late')")).scalar_one()

    wait_until(lambda: late_count() == candles, timeout=60, what=f"{candles} resent candles recorded as late")
    expected = Counter("bars" if is_candle(r) else TABLE_OF_TYPE[r["data_type"]] for r in records)
    assert table_counts(owner_db) == expected
