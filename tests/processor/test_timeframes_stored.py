"""Rolled-up candles on the real services: base bars spanning several windows of every default
timeframe, produced to Kafka and processed in uneven batches, store exactly the candles,
indicators and signals of the pandas reference (resample on the stored base bars, then ta)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from namespaces import namespaced, own_topics
from processor_thread import processor_thread
from sqlalchemy import Engine, text
from streams import produce, simulated_records, truncate_outputs, wait_processed

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from services.core.reference import compute_indicators, compute_signals, roll_up
from services.core.timeframes import Timeframe

TIMEFRAMES = "1m,5m,1h,1d"
INTERVAL = 37.0  # seconds between a symbol's base bars: 1-2 per minute, ~97 per hour, ~2,335 per day


def stored(db: Engine, timeframe: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with db.connect() as conn:
        bars = pd.read_sql_query(text(
            "SELECT symbol, extract(epoch FROM ts)::float8 AS ts, open, high, low, close, volume, base_bars, "
            f"{', '.join(INDICATOR_COLUMNS)} FROM bars WHERE timeframe = :tf ORDER BY symbol, ts"), conn,
            params={"tf": timeframe})
        signals = pd.read_sql_query(text(
            "SELECT symbol, extract(epoch FROM ts)::float8 AS ts, rule, side, price, value, reference FROM signals "
            "WHERE timeframe = :tf ORDER BY symbol, ts, rule"), conn, params={"tf": timeframe})
    return bars, signals


def expected_rows(base: pd.DataFrame, timeframe: Timeframe, settings: Settings) -> tuple[pd.DataFrame, list[tuple]]:
    candles = roll_up(base, timeframe)
    values = compute_indicators(candles["close"], settings.indicator_params())
    signals = [(float(candles["ts"].iloc[s.position]), s.rule, s.side, float(candles["close"].iloc[s.position]),
                s.value, s.reference) for s in compute_signals(values, settings.signal_rules()).itertuples()]
    return pd.concat([candles, values], axis=1), signals


def test_rolled_candles_equal_the_reference_to_the_bit(stack: Settings, owner_db: Engine) -> None:
    settings = namespaced(stack, timeframes=TIMEFRAMES, processor_batch_max=777)
    truncate_outputs(owner_db)
    records = simulated_records(settings, candles=5 * 6_000, interval=INTERVAL)  # ~2.6 days per symbol
    with own_topics(settings):
        produce(settings, records)
        with processor_thread(settings) as (processor, _):
            wait_processed(owner_db, settings, timeout=180)
        assert processor.stats.dead_letters == 0 and processor.stats.late_bars == 0

    base, _ = stored(owner_db, "raw")
    assert len(base) == 30_000 == processor.stats.bars
    rolled = sum(len(stored(owner_db, tf)[0]) for tf in settings.timeframes)
    assert processor.stats.rolled_bars == rolled > 0
    for timeframe in settings.timeframe_specs():
        bars, signals = stored(owner_db, timeframe.name)
        for symbol, rows in base.groupby("symbol"):
            want, want_signals = expected_rows(rows.reset_index(drop=True), timeframe, settings)
            got = bars[bars["symbol"] == symbol].reset_index(drop=True)
            assert len(got) == len(want) > 1, (timeframe.name, symbol)
            columns = ["ts", "open", "high", "low", "close", "volume", "base_bars", *INDICATOR_COLUMNS]
            assert np.array_equal(got[columns].to_numpy(dtype=float), want[columns].to_numpy(dtype=float),
                                  equal_nan=True), (timeframe.name, symbol)
            mine = signals[signals["symbol"] == symbol]
            assert list(mine[["ts", "rule", "side", "price", "value", "reference"]].itertuples(
                index=False, name=None)) == sorted(want_signals, key=lambda s: (s[0], s[1])), (timeframe.name, symbol)
    day, _ = stored(owner_db, "1d")
    assert day.groupby("symbol").size().min() >= 2  # several closed days per symbol


def test_a_late_base_bar_inside_a_closed_window_changes_nothing(stack: Settings, owner_db: Engine) -> None:
    settings = namespaced(stack, timeframes=TIMEFRAMES)
    truncate_outputs(owner_db)
    records = simulated_records(settings, candles=5 * 400, interval=INTERVAL)
    late = dict(records[5 * 100], timestamp=records[5 * 100]["timestamp"] + 1.0)  # between two applied bars
    with own_topics(settings):
        produce(settings, records)
        with processor_thread(settings):
            wait_processed(owner_db, settings, timeout=120)
            before = {tf: stored(owner_db, tf) for tf in ("raw", *settings.timeframes)}
            produce(settings, [late])
            wait_processed(owner_db, settings, timeout=60)
    after = {tf: stored(owner_db, tf) for tf in ("raw", *settings.timeframes)}
    for tf in before:
        assert before[tf][0].equals(after[tf][0]) and before[tf][1].equals(after[tf][1]), tf
    with owner_db.connect() as conn:
        assert conn.execute(text("SELECT symbol, reason FROM late_bars")).all() == [(late["stock_symbol"], "late")]
