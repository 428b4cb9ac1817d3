"""backfill_symbol on the real PostgreSQL: fills deleted indicator values and signals, idempotently."""
from __future__ import annotations

from datetime import timedelta
from typing import Callable

import numpy as np
import pandas as pd
from orchestration_data import StreamData, read_stream_data
from sqlalchemy import Engine, text
from support import assert_same_indicators, signal_keys

from services.core.indicators import INDICATOR_COLUMNS
from services.orchestration.indicators.backfill import backfill_symbol
from services.orchestration.indicators.recompute import Recomputation, warmup_bars
from services.orchestration.run_params import Window

NULLS = ", ".join(f"{c} = NULL" for c in INDICATOR_COLUMNS)


def assert_same_bars(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same rows; indicator NULLs in the same places; values within the README's indicator tolerance."""
    assert got[["symbol", "ts", "close"]].equals(want[["symbol", "ts", "close"]])
    assert_same_indicators(got, want)


def test_backfill_restores_a_deleted_range_and_a_second_run_writes_nothing(
    stream_data: Callable[..., StreamData], orch_db: Engine
) -> None:
    original = stream_data(("AAPL", "MSFT"), 1500)
    times = original.times("AAPL")
    assert warmup_bars() < 1000  # the window below starts after a full warm-up: the sliced path
    start, end = times[1000], times[1300]
    with orch_db.begin() as conn:
        conn.execute(text(f"UPDATE bars SET {NULLS} WHERE timeframe = 'raw' AND symbol = 'AAPL' "
                          "AND ts >= :s AND ts <= :e"),
                     {"s": start, "e": end})  # one bar past the window too: it must stay NULL
        deleted = conn.execute(text("DELETE FROM signals WHERE symbol = 'AAPL' AND timeframe = 'raw' "
                                    "AND ts >= :s AND ts < :e"),
                               {"s": start, "e": end}).rowcount
        # a stray signal inside the window (must go) and one outside (must stay)
        conn.execute(text("INSERT INTO signals (symbol, ts, rule, side, price, value, reference) VALUES "
                          "('AAPL', :inside, 'rsi', 'BUY', 1, 1, 1), ('AAPL', :outside, 'rsi', 'BUY', 1, 1, 1) "
                          "ON CONFLICT DO NOTHING"), {"inside": times[1100], "outside": times[1400]})
    assert deleted > 0

    result = backfill_symbol(orch_db, Recomputation("AAPL",
                                                    Window(start.to_pydatetime(), end.to_pydatetime(), "params"),
                                                    chunk_bars=97))  # several chunks, warm-up carried between them
    assert result.bars == 300 and result.chunks == 4
    assert result.bars_written == 300 and result.values_written == 300 * len(INDICATOR_COLUMNS)
    assert result.signals_inserted == deleted and result.signals_deleted == 1
    assert result.rows_written == 300 + deleted + 1 + result.signals_updated

    after = read_stream_data(orch_db)
    inside = (after.bars["symbol"] == "AAPL") & (after.bars["ts"] >= start) & (after.bars["ts"] < end)
    assert_same_bars(after.bars[inside], original.bars[inside])
    assert after.bars.loc[(after.bars["symbol"] == "AAPL") & (after.bars["ts"] == end),
                          list(INDICATOR_COLUMNS)].isna().all(axis=None)
    rest = ~inside & ~((after.bars["symbol"] == "AAPL") & (after.bars["ts"] == end))
    assert after.bars[rest].equals(original.bars[rest])  # nothing else touched
    stray_outside = ("AAPL", times[1400], "rsi", "BUY")
    assert sorted(set(signal_keys(after.signals)) - {stray_outside}) == signal_keys(original.signals) or \
        signal_keys(after.signals) == sorted(signal_keys(original.signals) + [stray_outside])
    win = (after.signals["symbol"] == "AAPL") & (after.signals["ts"] >= start) & (after.signals["ts"] < end)
    want = original.signals[(original.signals["symbol"] == "AAPL") & (original.signals["ts"] >= start)
                            & (original.signals["ts"] < end)]
    got = after.signals[win]
    assert signal_keys(got) == signal_keys(want)
    np.testing.assert_allclose(got["value"].to_numpy(), want["value"].to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got["reference"].to_numpy(), want["reference"].to_numpy(), rtol=1e-9, atol=1e-9)

    again = backfill_symbol(orch_db, Recomputation("AAPL",
                                                   Window(start.to_pydatetime(), end.to_pydatetime(), "params")))
    assert again.rows_written == 0 and again.bars == 300
    assert read_stream_data(orch_db).bars.equals(after.bars)


def test_backfill_from_the_first_bar_restores_the_early_nulls_exactly(
    stream_data: Callable[..., StreamData], orch_db: Engine
) -> None:
    original = stream_data(("GOOGL",), 200)
    times = original.times("GOOGL")
    with orch_db.begin() as conn:
        conn.execute(text("UPDATE bars SET sma = 1.0, rsi = 50.0, macd_signal = 0.5 "
                          "WHERE timeframe = 'raw' AND ts < :e"), {"e": times[60]})
        conn.execute(text("DELETE FROM signals WHERE timeframe = 'raw'"))
    window = Window(times[0].to_pydatetime() - timedelta(days=1), times[60].to_pydatetime(), "params")
    result = backfill_symbol(orch_db, Recomputation("GOOGL", window))
    # sma has no value before bar 19, rsi before 13, macd_signal before 33: those become NULL again
    assert result.bars_written == 60 and result.per_indicator == {"sma": 60, "rsi": 60, "macd_signal": 60}
    after = read_stream_data(orch_db)
    pd.testing.assert_frame_equal(after.bars, original.bars)  # bit for bit: the whole history fits the warm-up
    early = original.signals[original.signals["ts"] < times[60]]
    assert signal_keys(after.signals) == signal_keys(early)


def test_intact_data_is_not_rewritten_and_other_symbols_are_untouched(
    stream_data: Callable[..., StreamData], orch_db: Engine
) -> None:
    original = stream_data(("AAPL", "MSFT"), 1200)
    times = original.times("MSFT")
    with orch_db.begin() as conn:
        conn.execute(text("UPDATE bars SET rsi = rsi + 0.5 WHERE timeframe = 'raw' AND symbol = 'AAPL'"))
    window = Window(times[0].to_pydatetime(), times.iloc[-1].to_pydatetime() + timedelta(seconds=1), "params")
    result = backfill_symbol(orch_db, Recomputation("MSFT", window, chunk_bars=500))
    assert result.bars == 1200 and result.rows_written == 0
    after = read_stream_data(orch_db)
    aapl = after.bars["symbol"] == "AAPL"
    np.testing.assert_allclose(after.bars.loc[aapl, "rsi"], original.bars.loc[aapl, "rsi"] + 0.5)
