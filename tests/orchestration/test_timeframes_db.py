"""Reconciliation and backfill of rolled timeframes on the real PostgreSQL, against the stream's own rows."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from orchestration_data import (
    DEFAULT_TIMEFRAMES,
    START,
    insert_rows,
    read_timeframe,
    stream_rows_with_timeframes,
)
from sqlalchemy import Engine, text
from support import assert_same_indicators, signal_keys

from services.core.indicators import INDICATOR_COLUMNS
from services.core.timeframes import Timeframe
from services.orchestration.indicators.backfill import backfill_symbol
from services.orchestration.indicators.recompute import Recomputation, warmup_bars
from services.orchestration.indicators.reconcile import finish_run, reconcile_symbol, start_run
from services.orchestration.indicators.rolled import history_start
from services.orchestration.run_params import Window

SYMBOLS = ("AAPL", "MSFT")
BARS, INTERVAL = 3000, 20.0  # 1,000 minutes: 1,000 1m candles (past the warm-up), 200 5m, 16 1h, one 1d
TIMEFRAMES = ("raw", *DEFAULT_TIMEFRAMES)
CANDLE = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "base_bars"]


@pytest.fixture
def stored(orch_db: Engine) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The stream's rows of every timeframe, inserted; returns them as read back."""
    insert_rows(orch_db, *stream_rows_with_timeframes(SYMBOLS, BARS, interval=INTERVAL))
    return {tf: read_timeframe(orch_db, tf) for tf in TIMEFRAMES}


def whole() -> Window:
    start = pd.Timestamp(START, unit="s", tz="UTC").to_pydatetime()
    return Window(start - timedelta(days=1), start + timedelta(days=2), "params")


def reconcile(engine: Engine, run_id: str, *, repair: bool = False):  # type: ignore[no-untyped-def]
    start_run(engine, run_id, whole(), SYMBOLS, tolerance=1e-9, max_mismatches=0, repair=repair, timeframes=TIMEFRAMES)
    results = [reconcile_symbol(engine, run_id, Recomputation(s, whole(), timeframe=tf, tolerance=1e-9, chunk_bars=700),
                                repair=repair) for s in SYMBOLS for tf in TIMEFRAMES]
    return results, finish_run(engine, run_id)


def mismatches(engine: Engine, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT phase, symbol, timeframe, ts, indicator, stored_value, expected_value "
            "FROM reconciliation_mismatches "
            "WHERE run_id = :r ORDER BY phase, symbol, timeframe, ts, indicator"), {"r": run_id})]


def assert_same_rows(engine: Engine, timeframe: str, want: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    bars, signals = read_timeframe(engine, timeframe)
    assert bars[CANDLE].equals(want[0][CANDLE])  # candles exact
    assert_same_indicators(bars, want[0])
    assert signal_keys(signals) == signal_keys(want[1])
    np.testing.assert_allclose(signals["value"].to_numpy(float), want[1]["value"].to_numpy(float), rtol=1e-9, atol=1e-9)


def test_stream_written_timeframes_all_match(stored: dict, orch_db: Engine) -> None:
    counts = {tf: len(stored[tf][0]) for tf in TIMEFRAMES}  # of both symbols
    assert counts["1m"] > 2 * warmup_bars() > 0 and counts["5m"] >= 2 * 190 and counts["1h"] >= 30 and counts["1d"] == 2
    assert len(stored["5m"][1]) > 0 and len(stored["1m"][1]) > 0  # signals on rolled candles too
    results, summary = reconcile(orch_db, "clean-tf")
    assert [(r.symbol, r.timeframe, r.mismatches) for r in results if r.mismatches] == []
    assert (summary.status, summary.failed, summary.mismatches) == ("passed", False, 0)
    assert {tf: c["bars"] for tf, c in summary.per_timeframe.items()} == counts
    assert summary.message.endswith("(raw, 1m, 5m, 1h, 1d) match pandas + ta")


def test_a_corrupted_1h_value_and_5m_signal_are_reported_with_their_timeframe_and_repaired(
    stored: dict, orch_db: Engine
) -> None:
    hours, five = stored["1h"][0], stored["5m"][1]
    t_hour = hours.loc[hours["symbol"] == "MSFT", "ts"].iloc[14]  # ema_fast(12) has a value from the 12th candle on
    sig = five[five["symbol"] == "AAPL"].iloc[0]
    with orch_db.begin() as conn:
        conn.execute(text("UPDATE bars SET ema_fast = ema_fast + 1 WHERE symbol = 'MSFT' AND timeframe = '1h' "
                          "AND ts = :t"), {"t": t_hour})
        conn.execute(text("UPDATE signals SET value = value + 0.5 WHERE symbol = 'AAPL' AND timeframe = '5m' "
                          "AND ts = :t AND rule = :r"), {"t": sig["ts"], "r": sig["rule"]})

    results, summary = reconcile(orch_db, "corrupt-tf")
    assert summary.failed and summary.mismatches == 2
    rows = mismatches(orch_db, "corrupt-tf")
    assert [r[:5] for r in rows] == [("check", "AAPL", "5m", sig["ts"], f"signal {sig['rule']}"),
                                     ("check", "MSFT", "1h", t_hour, "ema_fast")]
    assert rows[0][5:] == (pytest.approx(sig["value"] + 0.5), pytest.approx(sig["value"], rel=1e-12))
    true_ema = float(hours.set_index(["symbol", "ts"]).loc[("MSFT", t_hour), "ema_fast"])
    assert rows[1][5:] == (pytest.approx(true_ema + 1), pytest.approx(true_ema, rel=1e-12))
    assert summary.per_timeframe["1h"]["mismatches"] == 1 and summary.per_timeframe["5m"]["mismatches"] == 1
    assert f"MSFT 1h {t_hour.isoformat()} ema_fast: stored" in summary.message
    assert "AAPL 5m 1, MSFT 1h 1" in summary.message

    _, repaired = reconcile(orch_db, "repair-tf", repair=True)
    assert (repaired.status, repaired.mismatches, repaired.remaining) == ("repaired", 2, 0)
    for tf in TIMEFRAMES:
        assert_same_rows(orch_db, tf, stored[tf])
    assert reconcile(orch_db, "after-tf")[1].status == "passed"


def test_backfill_inserts_the_missing_candles_of_a_timeframe_exactly_as_the_stream_did(
    stored: dict, orch_db: Engine
) -> None:
    with orch_db.begin() as conn:  # as if 5m had been configured after the history was stored
        conn.execute(text("DELETE FROM bars WHERE timeframe = '5m'"))
        conn.execute(text("DELETE FROM signals WHERE timeframe = '5m'"))
    results = [backfill_symbol(orch_db, Recomputation(s, whole(), timeframe="5m", chunk_bars=500)) for s in SYMBOLS]
    assert sum(r.candles_inserted for r in results) == len(stored["5m"][0])
    assert sum(r.signals_inserted for r in results) == len(stored["5m"][1])
    assert all(r.chunks > 1 for r in results)  # several chunks, the forming window carried between them
    assert_same_rows(orch_db, "5m", stored["5m"])
    for tf in ("raw", "1m", "1h"):
        assert read_timeframe(orch_db, tf)[0].equals(stored[tf][0])  # nothing else touched
    again = backfill_symbol(orch_db, Recomputation("AAPL", whole(), timeframe="5m"))
    assert again.rows_written == 0 and again.bars == len(stored["5m"][0]) // 2


def test_backfill_of_a_window_after_the_warm_up_equals_the_stream(stored: dict, orch_db: Engine) -> None:
    minutes = stored["1m"][0]
    times = minutes.loc[minutes["symbol"] == "AAPL", "ts"].reset_index(drop=True)
    start, end = times[900], times[950]  # 900 candles before: the warm-up is a slice of the history
    with orch_db.begin() as conn:
        conn.execute(text("DELETE FROM bars WHERE timeframe = '1m' AND symbol = 'AAPL' AND ts >= :s AND ts < :e"),
                     {"s": start, "e": end})
        conn.execute(text("DELETE FROM signals WHERE timeframe = '1m' AND symbol = 'AAPL'"))
    result = backfill_symbol(orch_db, Recomputation("AAPL",
                                                    Window(start.to_pydatetime(), end.to_pydatetime(), "params"),
                                                    timeframe="1m", chunk_bars=97))
    assert (result.bars, result.candles_inserted) == (50, 50)
    bars, signals = read_timeframe(orch_db, "1m")
    assert bars[CANDLE].equals(minutes[CANDLE])
    assert_same_indicators(bars, minutes)
    want = stored["1m"][1]
    inside = (want["symbol"] == "AAPL") & (want["ts"] >= start) & (want["ts"] < end)
    assert signal_keys(signals[signals["symbol"] == "AAPL"]) == signal_keys(want[inside])


def test_the_warm_up_counts_candles_across_a_gap_in_the_base_bars(orch_db: Engine) -> None:
    # 3 minutes of data, a day without any, then 3 more: 6 windows of 1m, far apart
    rows = [("TSLA", "raw", START + offset, 1.0, 1.0, 1.0, 1.0, 1, 1, *([None] * len(INDICATOR_COLUMNS)))
            for offset in (0, 60, 120, 86_400, 86_460, 86_520)]
    insert_rows(orch_db, rows, [])
    minute = Timeframe.parse("1m")
    first = (int(START + 86_520) // 60 + 1) * 60_000_000  # the window after the last bar
    raw = orch_db.raw_connection()
    try:
        with raw.cursor() as cur:
            assert history_start(cur, "TSLA", minute, first, 3) == first - 3 * 60_000_000
            lo = history_start(cur, "TSLA", minute, first, 5)  # reaches back across the gap
            assert lo is not None and lo <= int(START * 1_000_000) + 60_000_000
            assert history_start(cur, "TSLA", minute, first, 7) is None  # fewer candles exist: from the first bar
    finally:
        raw.close()
